"""Sentence pairs: pair classification (`data.text_pair`) and regression (`task: text-regression`) through the
whole pipeline on the tiny BERT, the runtime's pair encoding, `predict` on pairs and `rank`, the pair metrics,
Optimum reading a pair dist, and bad pair data as one line with exit 2."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.runtime import TextClassifier, TextRegressor, load
from tests.conftest import demo_rows, write_recipe

PAIR_SECTIONS = dict(
    distill={"num_layers": 1, "epochs": 1, "batch_size": 32, "lr": 1e-3, "augment": {"copies": 1}},
    benchmark={
        "threads": [1],
        "seq": 32,
        "iterations": 10,
        "warmup": 2,
        "max_sentences": 10,
        "settle_s": 0,
        "peers": ["optimum-int8"],
        "peer_rounds": 2,
        "peer_sentences": 10,
    },
)


def _pairs(split: str, n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(sentence1, sentence2, label, score): "positive" when both demo sentences have the same sentiment (the tiny
    BERT's head already names negative/positive), the score 4.5 or 0.5 with some noise."""
    rows, rng = demo_rows(split), random.Random(seed)
    out = []
    for _ in range(n):
        (a, la), (b, lb) = rng.sample(rows, 2)
        same = la == lb
        out.append((a, b, "positive" if same else "negative", f"{(4.5 if same else 0.5) + rng.uniform(-0.5, 0.5):.2f}"))
    return out


def _write(path: Path, rows, header=("sentence1", "sentence2", "label", "score")) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pairs")
    for split, n, seed in (("train", 400, 0), ("dev", 60, 1), ("test", 200, 2)):
        _write(folder / f"{split}.tsv", _pairs(split, n, seed))
    return folder


def _pair_recipe(folder: Path, model: str, data: Path, task: str = "text-classification", **sections) -> Path:
    label = {"label": "score", "score_range": [0, 5]} if task == "text-regression" else {"positive": "positive"}
    d = {
        "train": str(data / "train.tsv"),
        "eval": str(data / "dev.tsv"),
        "test": str(data / "test.tsv"),
        "text": "sentence1",
        "text_pair": "sentence2",
        "max_length": 48,
        **label,
    }
    gates = {"size": {"max_mb": 50}}
    if task == "text-regression":
        gates["quality"] = {"metric": "spearman", "max_drop": 1.0}
    return write_recipe(folder, model, task=task, data=d, gates=gates, **(PAIR_SECTIONS | sections))


def _compress(recipe: Path, runs: Path, *extra: str):
    return CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(runs), *extra])


@pytest.fixture(scope="module")
def pair_run(tiny_bert, pair_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair-run")
    result = _compress(_pair_recipe(folder, str(tiny_bert), pair_data), folder / "runs")
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny"


@pytest.fixture(scope="module")
def regression_run(tiny_bert, pair_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression-run")
    recipe = _pair_recipe(folder, str(tiny_bert), pair_data, task="text-regression")
    result = _compress(recipe, folder / "runs")
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny"


def test_the_encoder_reads_a_pair_as_one_sequence_with_segment_ids(tiny_bert):
    from transformers import AutoTokenizer

    from edgebert.runtime.tokenizer import TextEncoder

    names = ["input_ids", "attention_mask", "token_type_ids"]
    encoder = TextEncoder.from_file(tiny_bert / "tokenizer.json", 12, names)
    pairs = [("the concert started late", "the game is clever and rewarding and fun to play"), ("fun", "late")]
    ours = encoder.feeds(pairs)
    theirs = AutoTokenizer.from_pretrained(tiny_bert)(
        [a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first", max_length=12, padding=True
    )
    for name in names:
        assert ours[name].tolist() == theirs[name], name
    assert set(ours["token_type_ids"][0]) == {0, 1}
    assert encoder.feeds([list(pairs[1])])["input_ids"].tolist() == encoder.feeds([pairs[1]])["input_ids"].tolist()


def test_fixed_input_and_augmentation_keep_pairs_as_pairs(tiny_bert):
    from edgebert.data.augment import augment
    from edgebert.runtime.tokenizer import TextEncoder
    from edgebert.timing.bench import fixed_input

    encoder = TextEncoder.from_file(tiny_bert / "tokenizer.json", 64, ["input_ids", "token_type_ids"])
    pairs = [(a, b) for a, b, _, _ in _pairs("train", 20, 3)]
    feeds = fixed_input(encoder.feeds, pairs, batch=2, seq=40)
    assert feeds["input_ids"].shape == (2, 40) and feeds["token_type_ids"][0].max() == 1
    copies = augment(pairs, 3, seed=1)
    assert len(copies) == 60 and all(isinstance(c, tuple) and len(c) == 2 and all(c) for c in copies)
    both = augment(pairs, 3, seed=1, swap=True)
    assert both[::4] == [(b, a) for a, b in pairs]  # each pair in the other order, then its three copies
    orders = [  # a rewrite keeps each side's word count: the count tells which side came first
        [len(c[0].split()), len(c[1].split())] == [len(a.split()), len(b.split())]
        for i, (a, b) in zip(range(0, 80, 4), pairs, strict=True)
        for c in both[i + 1 : i + 4]
        if len(a.split()) != len(b.split())
    ]
    assert len(orders) > 20 and 0 < sum(orders) < len(orders)


def test_pair_metrics_match_scipy_and_sklearn():
    from scipy.stats import pearsonr
    from sklearn.metrics import f1_score

    from edgebert.evaluate import f1_with_ci, pearson_with_ci

    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 2, 300).astype(bool), rng.integers(0, 2, 300).astype(bool)
    f1 = f1_with_ci(gold, pred)
    assert f1["value"] == pytest.approx(f1_score(gold, pred), abs=1e-6) and f1["low"] < f1["value"] < f1["high"]
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    r = pearson_with_ci(x, y)
    assert r["value"] == pytest.approx(pearsonr(x, y)[0], abs=1e-6) and r["low"] < r["value"] < r["high"]


def test_a_pair_classifier_runs_end_to_end_with_f1_of_the_positive_label(pair_run):
    manifest = json.loads((pair_run / "dist" / "edgebert.json").read_text())
    assert manifest["task"]["pairs"] is True and manifest["task"]["positive"] == "positive"
    assert "token_type_ids" in manifest["task"]["inputs"]
    assert set(manifest["metrics"]["shipped"]) == {"accuracy", "macro_f1", "f1"}
    report = (pair_run / "report" / "report.md").read_text()
    assert "F1 (positive)" in report and "optimum-int8" in report
    model = load(pair_run / "dist")
    one = model.predict(("The concert started late.", "The sound was terrible."))
    assert len(one) == 1 and one[0].label in ("negative", "positive")
    assert len(model.predict([("a", "b"), ["c", "d"], "a single text"])) == 3


def test_rank_orders_candidates_like_the_model_in_pytorch(tiny_bert, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.conftest import export_model

    # the tiny BERT with a louder head: its random one scores every input within 1e-4, leaving no order to check
    model_dir = tmp_path / "model"
    loud = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    loud.classifier.weight.data *= 300
    loud.save_pretrained(model_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(model_dir)
    rows = demo_rows("train") + demo_rows("dev")
    query, candidates = rows[0][0], [s for s, _ in rows[1:101]]
    export_model(model_dir, tmp_path / "onnx", [(query, c) for c in candidates[:8]], max_length=48)
    onnx = TextClassifier.from_files(
        tmp_path / "onnx" / "model.onnx", model_dir / "tokenizer.json", ["negative", "positive"], 48, threads=1
    )
    ranked = onnx.rank(query, candidates, batch_size=16)
    assert sorted(r.index for r in ranked) == list(range(100))
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    torch_model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    enc = AutoTokenizer.from_pretrained(model_dir)(
        [query] * 100, candidates, truncation=True, max_length=48, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        probs = torch.softmax(torch_model(**enc).logits, -1)[:, 1].numpy()
    assert probs.max() - probs.min() > 1e-3  # the candidates are told apart, so the order means something
    # the same order as PyTorch's scores: no candidate ranked above one PyTorch scores higher, beyond float noise
    # (batches are padded differently: probabilities agree to about 1e-7)
    order = [r.index for r in ranked]
    assert all(probs[a] >= probs[b] - 1e-5 for a, b in zip(order, order[1:], strict=False))
    assert np.abs(np.array([r.score for r in ranked]) - probs[order]).max() < 1e-5
    assert [r.text for r in onnx.rank(query, candidates, top_k=3)] == [r.text for r in ranked[:3]]


def test_a_pair_dist_loads_in_optimum_and_gives_the_same_labels(pair_run, pair_data):
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    dist = pair_run / "dist"
    pairs = [(a, b) for a, b, _, _ in _pairs("test", 200, 5)]
    model = ORTModelForSequenceClassification.from_pretrained(dist)
    enc = AutoTokenizer.from_pretrained(dist)(
        [a for a, _ in pairs], [b for _, b in pairs], padding=True, truncation=True, max_length=48, return_tensors="np"
    )
    logits = model(**enc).logits
    ours = load(dist).logits(pairs, batch_size=200)
    assert [model.config.id2label[int(i)] for i in logits.argmax(-1)] == [p.label for p in load(dist).predict(pairs)]
    assert np.abs(np.asarray(logits) - ours).max() < 1e-3


def test_a_regressor_scores_pairs_in_the_data_units_and_ranks(regression_run):
    manifest = json.loads((regression_run / "dist" / "edgebert.json").read_text())
    assert manifest["task"]["name"] == "text-regression" and manifest["task"]["score_range"] == [0, 5]
    assert set(manifest["metrics"]["shipped"]) == {"spearman", "pearson"}
    model = load(regression_run / "dist")
    assert isinstance(model, TextRegressor)
    scores = model.predict([("The concert started late.", "The sound was terrible."), ("fun", "clever")])
    assert len(scores) == 2 and all(0 <= s <= 5 for s in scores)
    ranked = model.rank("The concert started late.", ["The game is fun.", "The sound was terrible.", "fun"])
    assert sorted(r.index for r in ranked) == [0, 1, 2] and ranked[0].score >= ranked[-1].score
    result = json.loads((regression_run / "report" / "result.json").read_text())
    assert result["metric"] == "spearman"


def test_predict_reads_pairs_from_the_command_line_and_from_two_columns(pair_run, pair_data, tmp_path):
    dist = str(pair_run / "dist")
    runner = CliRunner()
    out = runner.invoke(main, ["predict", dist, "--pair", "fun game", "late concert", "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output.splitlines()[-1])
    assert row["text"] == "fun game" and row["text_pair"] == "late concert" and row["label"] in ("negative", "positive")
    out = runner.invoke(
        main,
        ["predict", dist, "--input", str(pair_data / "test.tsv"), "--column", "sentence1", "--column", "sentence2"],
    )
    assert out.exit_code == 0 and len([line for line in out.output.splitlines() if "\t" in line]) == 200
    plain = tmp_path / "pairs.txt"
    plain.write_text("fun game\tlate concert\nonly one text\n")
    out = runner.invoke(main, ["predict", dist, "--input", str(plain)])
    assert out.exit_code == 2 and "line 2 has 1 tab-separated fields" in out.output
    out = runner.invoke(main, ["predict", dist, "--input", str(pair_data / "test.tsv"), "--column", "sentence1"])
    assert out.exit_code == 2 and "give two (--column A --column B) or none" in out.output
    out = runner.invoke(main, ["predict", dist, "a single text"])
    assert out.exit_code == 2 and "reads sentence pairs: give --pair A B" in out.output


@pytest.mark.parametrize(
    ("rows", "task", "overrides", "message"),
    [
        (None, "text-classification", ["data.text_pair=second"], r"no column 'second' for data.text_pair"),
        (
            [("a", "b", "positive", "7.5")],
            "text-regression",
            [],
            r"test.tsv line 2: the score 7.5 is outside data.score_range \[0, 5\]",
        ),
        (
            [("a", "b", "positive", "high")],
            "text-regression",
            [],
            r"test.tsv line 2: the score 'high' .* is not a number",
        ),
        (
            [("a", "b", "maybe", "1")],
            "text-classification",
            [],
            r"data.test .* has labels never seen in train: 'maybe'",
        ),
        (
            None,
            "text-classification",
            ["distill.unlabelled=[more.txt]"],
            r"distill.unlabelled\[0\] gives single sentences but data.text_pair makes every example a pair",
        ),
    ],
)
def test_bad_pair_input_is_one_line_exit_2_and_keeps_finished_stages(
    tiny_bert, pair_data, tmp_path, rows, task, overrides, message
):
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.tsv").write_bytes((pair_data / f"{split}.tsv").read_bytes())
    recipe = _pair_recipe(tmp_path, str(tiny_bert), data, task=task)
    runs = tmp_path / "runs"
    first = _compress(recipe, runs, "--until", "teacher")
    assert first.exit_code == 0, first.output
    stamp = (runs / "tiny" / "teacher" / "stage.json").read_bytes()
    if rows is not None:
        _write(data / "test.tsv", rows)
    result = _compress(recipe, runs, *[a for o in overrides for a in ("--set", o)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert re.search(message, result.output), result.output
    assert (runs / "tiny" / "teacher" / "stage.json").read_bytes() == stamp


def test_check_budgets_the_pair_metrics_the_manifest_records(pair_run, regression_run, tmp_path):
    def check(dist: Path, budgets: str, *args: str):
        path = tmp_path / "budgets.yaml"
        path.write_text(f"version: 1\nbudgets:\n{budgets}\n")
        return CliRunner().invoke(main, ["check", str(dist), "--budgets", str(path), *args])

    dist = regression_run / "dist"
    passed = check(dist, "  spearman_vs_baseline: -0.5 points", "--baseline", str(dist))
    assert passed.exit_code == 0 and "spearman_vs_baseline" in passed.output, passed.output
    failed = check(dist, "  spearman: 100%\n  pearson: 100%")
    assert failed.exit_code == 3 and "spearman" in failed.output and "pearson" in failed.output, failed.output
    assert check(pair_run / "dist", "  f1: 0.0\n  accuracy: 0%").exit_code == 0
    wrong = check(regression_run / "dist", "  f1: 0.5")
    assert wrong.exit_code == 2 and "budgets.f1: this dist's manifest records no f1" in wrong.output
    pairs_data = check(pair_run / "dist", "  accuracy: 50%", "--data", str(tmp_path / "budgets.yaml"))
    assert pairs_data.exit_code == 2 and "not built for sentence-pair dists yet" in pairs_data.output


def test_every_pair_task_has_a_valid_starting_recipe(tmp_path):
    import yaml

    from edgebert.recipe import parse_recipe

    for task in ("text-classification", "text-regression"):
        result = CliRunner().invoke(main, ["init", "--task", task])
        assert result.exit_code == 0, result.output
        raw = yaml.safe_load(result.output) | {"base_dir": str(tmp_path)}
        raw["data"]["text_pair"] = "sentence2"
        assert parse_recipe(raw).data.text_pair == "sentence2"


def test_unlabelled_sentence_pairs_are_learnt_from_the_teacher(tiny_bert, pair_data, tmp_path):
    from edgebert.data.texts import TextColumn, read_texts

    extra = tmp_path / "extra.tsv"
    train_pair = (pair_data / "train.tsv").read_text().splitlines()[1].split("\t")[:2]
    rows = [("a new first side", "a new second side"), ("another one", "its partner"), (" padded ", "pair ")]
    rows += [("a new first side", "a new second side"), ("blank partner", " "), tuple(train_pair)]
    extra.write_text("one\ttwo\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    source = TextColumn(file=str(extra), column="one", pair="two")
    read = read_texts([source], Path, "distill.unlabelled")
    # in order, stripped, repeated and half-blank pairs dropped
    assert read[:3] == [("a new first side", "a new second side"), ("another one", "its partner"), ("padded", "pair")]
    assert len(read) == 4 and read[3] == tuple(train_pair)

    no_augment = {**PAIR_SECTIONS["distill"], "augment": None}
    unlabelled = [{"file": str(extra), "column": "one", "pair": "two"}]
    recipe = _pair_recipe(tmp_path, str(tiny_bert), pair_data, distill={**no_augment, "unlabelled": unlabelled})
    result = _compress(recipe, tmp_path / "runs", "--until", "distill")
    assert result.exit_code == 0, result.output
    # the train pair is shown once, as labelled
    assert re.search(r"distill: [\d,]+ labelled and 3 unlabelled sentences", result.output), result.output


def test_unlabelled_pairs_are_refused_where_examples_are_single_texts(tiny_bert, tmp_path):
    from edgebert.recipe import load_recipe

    unlabelled = [{"file": "more.tsv", "column": "a", "pair": "b"}]
    recipe = write_recipe(tmp_path, str(tiny_bert), distill={"num_layers": 1, "unlabelled": unlabelled})
    with pytest.raises(Exception, match=r"distill.unlabelled\[0\] gives sentence pairs \(pair:\) but"):
        load_recipe(recipe)
