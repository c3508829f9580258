"""Sentence embeddings: pooling read from and written to sentence-transformers folders and applied in
torch; the whole pipeline on a tiny BERT (pooling inside every shipped form, 4-bit word embeddings, the st-int8
peer, `edgebert embed`); the packaged MiniLM's vectors against sentence-transformers'; bad input."""

from __future__ import annotations

import json

import onnx
import pytest
import torch

from edgebert.errors import ModelError
from edgebert.tasks.pooling import Pooling, pool, read_pooling, write_pooling

from .conftest import ACTIONS, SUBJECTS, _embedding_data


def test_the_packaged_minilm_pools_by_mean_and_normalises(minilm):
    assert read_pooling(minilm) == Pooling("mean", True)
    assert read_pooling(minilm, mode="cls", normalize=False) == Pooling("cls", False)  # the recipe's word wins


def test_pooling_round_trips_through_the_folder_files(tmp_path):
    for pooling in (Pooling("mean", True), Pooling("cls", False), Pooling("max", True)):
        write_pooling(tmp_path / pooling.mode, pooling, 384)
        assert read_pooling(tmp_path / pooling.mode) == pooling
    config = json.loads((tmp_path / "max" / "1_Pooling" / "config.json").read_text())
    assert config["word_embedding_dimension"] == 384 and config["pooling_mode_max_tokens"] is True


def test_unknown_or_missing_pooling_is_one_line_naming_teacher_pooling(tmp_path):
    with pytest.raises(
        ModelError, match=r"not a sentence-transformers folder \(no modules.json\): set teacher.pooling"
    ):
        read_pooling(tmp_path)
    assert read_pooling(tmp_path, mode="mean") == Pooling("mean", True)
    write_pooling(tmp_path, Pooling("mean", False), 8)
    config = tmp_path / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ModelError) as e:
        read_pooling(tmp_path)
    assert "turns on pooling pooling_mode_weightedmean_tokens" in str(e.value) and "\n" not in str(e.value)


def test_pool_ignores_padding():
    tokens = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(tokens, mask, Pooling("mean", False)).tolist() == [[2.0, 1.0]]
    assert pool(tokens, mask, Pooling("max", False)).tolist() == [[3.0, 2.0]]
    assert pool(tokens, mask, Pooling("cls", False)).tolist() == [[1.0, 0.0]]
    unit = pool(tokens, mask, Pooling("mean", True))
    assert torch.allclose(unit.norm(dim=-1), torch.ones(1))


def test_embedding_pipeline_ships_pooling_inside_the_model(embedding_run):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from edgebert.runtime import load
    from edgebert.runtime.sentence_embedding import Embedder

    run, result = embedding_run
    manifest = json.loads((run / "dist" / "edgebert.json").read_text())
    assert manifest["task"]["name"] == "sentence-embedding" and manifest["task"]["mode"] == "mean"
    assert manifest["task"]["normalize"] is True and "spearman" in manifest["metrics"]["shipped"]
    distill = json.loads((run / "distill" / "stage.json").read_text())["summary"]
    corpus = len(SUBJECTS) * len(ACTIONS)
    assert corpus < distill["train_sentences"] <= corpus + 60  # more.tsv's distinct sentences joined the corpus
    export = json.loads((run / "export" / "stage.json").read_text())["summary"]["student"]
    assert export["vocab"]["corpus_sentences"] > corpus  # trimmed to the corpus and distill.unlabelled
    assert export["first_token_only"] == {"model.onnx": 0, "model.fused.onnx": 0}  # mean pooling reads every token
    assert "EmbedLayerNormalization" not in export["fused"]["fusions_offline"]  # int4 needs the plain Gather
    kinds = {n.op_type for n in onnx.load(str(run / "dist" / "model.onnx")).graph.node}
    assert "GatherBlockQuantized" in kinds and "MatMulInteger" in kinds
    pruned = json.loads((run / "prune" / "stage.json").read_text())["summary"]
    assert sum(x["kept_heads"] for x in pruned["layers"]) == 2  # of the student's 4
    scores = json.loads((run / "prune" / "importance.json").read_text())
    assert min(scores["heads"][0]) > 0 and min(scores["neurons"][0]) >= 0 and max(scores["neurons"][0]) > 0
    models = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]["models"]
    assert models["teacher"]["vs_teacher"]["neighbours_kept"] == 1.0
    assert 0 < models["student-int8"]["vs_teacher"]["cosine_p5"] <= models["student-int8"]["vs_teacher"]["cosine_mean"]
    assert "Against the teacher's vectors" in (run / "report" / "report.md").read_text()
    finished = (run / "teacher" / "stage.json").stat().st_mtime_ns
    assert all(f.stat().st_mtime_ns <= finished for f in (run / "teacher").iterdir())  # the peer wrote no teacher file
    evaluation = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]
    assert evaluation["agreement_with_teacher"]["st-int8"] > 0.95  # the teacher's vectors, quantized, pooled in Python
    peer = json.loads((run / "dist" / "edgebert.json").read_text())["vs_peers"]["peers"]["st-int8"]
    assert peer["how"].startswith("sentence-transformers ONNX backend") and set(peer["x_faster"]) >= {"real_b1"}
    assert "| st-int8 | sentence-transformers ONNX backend" in (run / "report" / "report.md").read_text()
    emb = load(run / "dist")
    assert isinstance(emb, Embedder)
    texts = ["A man is cooking pasta.", "The dog sleeps.", "A girl is riding a horse in the park today."]
    vectors = emb.embed(texts)
    assert vectors.shape == (3, manifest["task"]["dim"]) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    from click.testing import CliRunner

    from edgebert.cli import main

    out = CliRunner().invoke(main, ["predict", str(run / "dist"), texts[0]])
    assert (
        out.exit_code == 0
        and out.output.startswith("1\t")
        and len(out.output.split("\t")[1].split()) == vectors.shape[1]
    )
    # plain onnxruntime, given only the tokenizer's outputs, returns the same vectors: no pooling outside the model
    # (one text per call on both sides: dynamic INT8 sets its activation scale per batch, so batch-mates matter)
    tokenizer = Tokenizer.from_file(str(run / "dist" / "tokenizer.json"))
    session = ort.InferenceSession(str(run / "dist" / "model.onnx"))
    names = [i.name for i in session.get_inputs()]
    for text in texts:
        (vector,) = emb.embed([text])
        enc = tokenizer.encode(text)
        feeds = {"input_ids": [enc.ids], "attention_mask": [enc.attention_mask], "token_type_ids": [enc.type_ids]}
        (plain,) = session.run(["sentence_embedding"], {n: np.asarray(feeds[n], np.int64) for n in names})
        assert np.array_equal(plain[0], vector)
    # the other forms carry the pooled vector too: the single-file model (raw string in) and the mobile model
    from edgebert.graph.single_file import session as single_session

    single = single_session(run / "dist" / "model.single.onnx")
    (from_text,) = single.run(["sentence_embedding"], {"text": np.array([texts[1]])})
    assert np.allclose(from_text[0], emb.embed([texts[1]])[0], atol=1e-5)
    mobile = manifest["mobile_model"]
    assert mobile["ort_format"]["max_abs_diff_vs_onnx"] < 1e-4 and mobile["metrics"]["vs_teacher"]["cosine_mean"] > 0.9
    fixed = Embedder.from_files(run / "dist" / "model.mobile.ort", run / "dist" / "tokenizer.json", 32)
    assert fixed.embed(texts).shape == vectors.shape and fixed.fixed_seq == mobile["input_shape"][1]


def test_embed_streams_a_100000_line_file_in_bounded_memory(embedding_run, tmp_path):
    """`edgebert embed` writes one vector per input row, in order, holding one chunk at a time: peak memory of
    the whole process stays under 1 GB, and progress lines come out when stderr is not a terminal."""
    import subprocess
    import sys

    import numpy as np

    run, _ = embedding_run
    lines = [f"{SUBJECTS[i % 8]} {ACTIONS[i % 5]} number {i}" for i in range(100_000)]
    (tmp_path / "big.tsv").write_text("id\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(lines)))
    script = (
        "import resource, sys; from edgebert.cli import main\n"
        "try: main()\n"
        "finally: print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    args = ["embed", str(run / "dist"), "--input", str(tmp_path / "big.tsv"), "--column", "sentence"]
    args += ["--output", str(tmp_path / "v.npy"), "--threads", "2", "--progress-every", "0.5", "--batch-size", "64"]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stderr.split("peak_kb")[-1]) / 1024
    assert peak_mb < 1024, peak_mb
    assert "embedding 100,000 rows:" in done.stderr and "100,000 vectors" in done.stdout
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape[0] == 100_000
    emb = __import__("edgebert.runtime", fromlist=["load"]).load(run / "dist")
    picks = [0, 4097, 99_999]
    assert np.allclose(vectors[picks], np.stack([emb.embed([lines[i]])[0] for i in picks]), atol=1e-2)
    bad = subprocess.run(
        [sys.executable, "-m", "edgebert", *args[:4], "--column", "text", "--output", "x.npy"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "has no column 'text'; its columns: id, sentence" in bad.stderr


def test_bad_embedding_recipes_and_data_are_one_line(tmp_path, tiny_bert):
    from edgebert.errors import DataError, RecipeError
    from edgebert.recipe import DataConfig, parse_recipe
    from edgebert.tasks import get

    base = {"name": "e", "task": "sentence-embedding", "data": {"train": "c.txt"}, "teacher": {"model": "m"}}
    with pytest.raises(RecipeError, match="a sentence-embedding teacher is used as it is"):
        parse_recipe({**base, "teacher": {"model": "m", "finetune": {"epochs": 1}}})
    task = get("sentence-embedding")
    (tmp_path / "c.txt").write_text("A dog runs.\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "pairs.tsv").write_text("sentence1\tsentence2\nA.\tB.\n")
    resolve = lambda p: tmp_path / p  # noqa: E731
    cases = [
        (DataConfig(train="empty.txt", eval="pairs.tsv"), "data.train: no sentences in empty.txt"),
        (DataConfig(train="c.txt"), "data.eval: no scored pairs, and data.train (c.txt) has 1 sentences, too few"),
        (DataConfig(train="c.txt", eval="pairs.tsv"), "pairs.tsv has no column 'score' for data.score"),
    ]
    for cfg, message in cases:
        with pytest.raises(DataError) as e:
            task.read_data(cfg, resolve)
        assert str(e.value).startswith(message) and "\n" not in str(e.value)
    # through the CLI: one line on stderr, exit 2; an unknown pooling mode in the teacher's folder likewise
    from click.testing import CliRunner

    from edgebert.cli import main

    from .conftest import write_recipe

    _embedding_data(tmp_path)
    data = {"train": "corpus.txt", "eval": "dev.tsv", "score_range": [0, 1]}
    recipe = write_recipe(
        tmp_path, str(tiny_bert), task="sentence-embedding", data=data, teacher={"model": str(tiny_bert)}
    )
    out = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 2 and "is outside data.score_range [0, 1]" in out.output, out.output
    data["score_range"] = [0, 5]
    recipe = write_recipe(
        tmp_path, str(tiny_bert), task="sentence-embedding", data=data, teacher={"model": str(tiny_bert)}
    )
    out = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    assert (
        out.exit_code == 2 and "not a sentence-transformers folder (no modules.json): set teacher.pooling" in out.output
    )


def test_without_scored_pairs_the_teacher_scores_held_out_pairs(tiny_bert, tmp_path):
    """No data.eval: held-out corpus pairs scored by the teacher's cosine pick the epoch (Spearman against the
    teacher, so the teacher itself scores 1)."""
    from click.testing import CliRunner
    from transformers import AutoTokenizer

    from edgebert.cli import main
    from edgebert.recipe import DataConfig, TeacherConfig
    from edgebert.tasks import get

    from .conftest import write_recipe

    places = ["", " today", " again", " now", " here"]
    corpus = [f"{s} {a[:-1]}{p}." for s in SUBJECTS for a in ACTIONS for p in places]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus) + "\n")
    task = get("sentence-embedding")
    dataset = task.read_data(DataConfig(train="corpus.txt", eval_fraction=0.2), lambda p: tmp_path / p)
    assert len(dataset.eval) == 20 and len(dataset.train) == len(corpus) - 40 and dataset.test is dataset.eval
    assert not set(dataset.eval.texts) & set(dataset.train.texts) and "no data.eval: 20 pairs" in dataset.notes[0]
    teacher = TeacherConfig(model=str(tiny_bert), pooling="mean", normalize=True)
    scored = task.with_teacher(dataset, tiny_bert, teacher, 32)
    assert all(-1 <= x <= 1 for x in scored.eval.scores) and scored.test is scored.eval
    assert task.with_teacher(scored, tiny_bert, teacher, 32) is scored  # scored once
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    dev = task.encode(tokenizer, scored.eval, scored, 32)
    assert task.dev_score(task.load_model(tiny_bert, teacher).eval(), dev, tokenizer) == pytest.approx(1.0)
    # through the pipeline: the note, and distillation picks its epoch on the teacher-scored pairs
    recipe = write_recipe(
        tmp_path,
        str(tiny_bert),
        task="sentence-embedding",
        data={"train": "corpus.txt", "eval_fraction": 0.2, "max_length": 32},
        teacher={"model": str(tiny_bert), "pooling": "mean", "normalize": True},
        distill={"num_layers": 1, "epochs": 1, "batch_size": 16, "lr": 1e-3},
    )
    out = CliRunner().invoke(
        main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs"), "--until", "distill"]
    )
    assert out.exit_code == 0 and "no data.eval: 20 pairs of held-out corpus sentences" in out.output, out.output
    summary = json.loads((tmp_path / "runs" / "tiny" / "distill" / "stage.json").read_text())["summary"]
    assert -1 < summary["dev_spearman"] < 1 and summary["train_sentences"] == len(corpus) - 40


@pytest.mark.slow
def test_minilm_exports_the_vectors_sentence_transformers_computes(minilm, tmp_path):
    """The real all-MiniLM-L6-v2, exported with its mean pooling and normalisation in the graph: the same vectors
    as sentence-transformers computes in PyTorch, on STS-B dev sentences (or built-in ones without shared/)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from edgebert.evaluate import cosine
    from edgebert.runtime.sentence_embedding import Embedder
    from edgebert.stages.export import export_onnx
    from edgebert.tasks import get

    from .conftest import SHARED

    pairs = SHARED / "stsb" / "dev.tsv"
    if pairs.is_file():
        texts = [line.split("\t")[0] for line in pairs.read_text().splitlines()[1:41]]
    else:
        texts = [f"{s} {a}" for s in SUBJECTS for a in ACTIONS][:40]
    model = export_onnx(minilm, tmp_path, 17, get("sentence-embedding"))
    ours = Embedder.from_files(model, minilm / "tokenizer.json", 128, threads=2).embed(texts)
    theirs = SentenceTransformer(str(minilm), device="cpu").encode(texts, batch_size=8)
    assert ours.shape == (40, 384) and float(cosine(ours, theirs).min()) > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
