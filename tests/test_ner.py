"""Token classification (NER): CoNLL and JSONL readers with scheme conversion and strict errors, entity F1 as
seqeval computes it, and the whole pipeline on the tiny BERT with the demo NER data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.data.tagged import load_tagged, to_iob2
from edgebert.errors import DataError, RecipeError
from edgebert.evaluate import entities, entity_metrics
from edgebert.recipe import DataConfig

from .conftest import DEMO_NER, rerun

IOB1 = "-DOCSTART- -X- O O\r\n\r\nEU NNP I-NP I-ORG\r\nrejects VBZ I-VP O\r\nGerman JJ I-NP I-MISC\r\n. . O O\r\n\r\n"
IOB1 += "Peter NNP I-NP I-PER\r\nBlackburn NNP I-NP I-PER\r\n\r\nIn IN I-PP O\r\nLondon NNP I-NP I-LOC\r\nParis NNP I-NP B-LOC\r\n"


def _load(tmp_path, **cfg):
    return load_tagged(DataConfig(**cfg), lambda p: tmp_path / p)


def test_conll_iob1_with_crlf_and_docstart_reads_as_iob2(tmp_path):
    (tmp_path / "train.txt").write_bytes(IOB1.encode())
    ds = _load(tmp_path, train="train.txt", eval="train.txt")
    assert ds.scheme == "iob1" and ds.types == ("LOC", "MISC", "ORG", "PER")
    assert ds.train.words[0] == ["EU", "rejects", "German", "."]
    assert ds.train.tags == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["O", "B-LOC", "B-LOC"]]
    assert ds.labels == ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    assert ds.train.texts[1] == "Peter Blackburn"
    assert to_iob2(["S-PER", "B-LOC", "E-LOC", "O"], "iobes") == ["B-PER", "B-LOC", "I-LOC", "O"]


def test_jsonl_tokens_and_tags(tmp_path):
    rows = [{"tokens": ["Ann", "lives", "in", "Rome"], "tags": ["B-PER", "O", "O", "B-LOC"]}]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows * 3))
    ds = _load(tmp_path, train="t.jsonl", eval="t.jsonl")
    assert ds.scheme == "iob2" and ds.train.words[0] == ["Ann", "lives", "in", "Rome"] and len(ds.eval) == 3


@pytest.mark.parametrize(
    ("files", "cfg", "message"),
    [
        (
            {"t.txt": "Ann B-PER\nRome B-LOC x\n"},
            {},
            r"t.txt line 2 has 3 columns where the file's first token line has 2",
        ),
        (
            {"t.txt": "Ann B-PER\nRome LOC\n"},
            {},
            r"t.txt line 2: tag 'LOC' is not O or B-/I-/E-/S- followed by an entity type",
        ),
        (
            {"t.txt": "Ann I-PER\n", "d.txt": "Rome B-LOC\nAnn B-PER\n"},
            {"test": "d.txt"},
            r"data.test \(d.txt\) has entity types never seen in train: LOC",
        ),
        (
            {"t.txt": "Ann I-PER\n"},
            {"scheme": "iob2"},
            r"t.txt line 1: 'I-PER' opens an entity, which IOB2 does not allow .* set data.scheme: iob1",
        ),
        ({"t.txt": "\n\n-DOCSTART- O\n"}, {}, r"data.train \(t.txt\) has no sentences"),
        ({"t.jsonl": '{"tokens": ["a", "b"], "tags": ["O"]}\n'}, {}, r"t.jsonl line 1: 2 tokens but 1 tags"),
        ({"t.txt": "Ann O\nlives O\n"}, {}, r"data.train \(t.txt\) has no entities: every tag is O"),
    ],
)
def test_bad_tagged_data_names_file_line_and_fix(tmp_path, files, cfg, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    train = next(iter(files))
    with pytest.raises(DataError, match=message):
        _load(tmp_path, train=train, eval=train, **cfg)


def test_entity_f1_matches_seqeval_strict_and_has_intervals():
    import random

    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 10))] for _ in range(400)]
    pred = [[t if rng.random() < 0.8 else rng.choice(tags) for t in g] for g in gold]
    m = entity_metrics(gold, pred)
    assert m["entity_f1"]["value"] == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2), abs=1e-6)
    assert m["entity_precision"]["value"] == pytest.approx(precision_score(gold, pred, mode="strict", scheme=IOB2))
    assert m["entity_recall"]["value"] == pytest.approx(recall_score(gold, pred, mode="strict", scheme=IOB2))
    assert m["entity_f1"]["low"] < m["entity_f1"]["value"] < m["entity_f1"]["high"]
    assert set(m["per_type"]) == {"LOC", "PER"} and m["per_type"]["PER"]["support"] > 0


def test_ner_pipeline_ships_a_token_classifier(ner_run):
    from edgebert.runtime import load
    from edgebert.runtime.token_classification import Entity, TokenClassifier

    run, result = ner_run
    manifest = json.loads((run / "dist" / "edgebert.json").read_text())
    assert manifest["task"]["name"] == "token-classification" and manifest["task"]["entity_types"] == [
        "LOC",
        "ORG",
        "PER",
    ]
    assert set(manifest["metrics"]["shipped"]) == {"entity_f1", "entity_precision", "entity_recall"}
    assert "pass  entity_f1" in result.output
    evaluation = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]
    models = evaluation["models"]
    assert set(models["student-int8"]["per_type"]) == {"LOC", "ORG", "PER"}
    # the runtime's windowed word tagging scores the ONNX teacher as PyTorch scores the same weights
    assert models["teacher"]["entity_f1"]["value"] == models["teacher-pytorch"]["entity_f1"]["value"] > 0.8
    assert models["student-int8"]["entity_f1"]["value"] > 0.7
    export = json.loads((run / "export" / "stage.json").read_text())["summary"]["student"]
    assert export["first_token_only"] == {"model.onnx": 0, "model.fused.onnx": 0}  # a tagger reads every token
    assert "entity F1 (95% CI)" in (run / "report" / "report.md").read_text()
    ner = load(run / "dist")
    assert isinstance(ner, TokenClassifier)
    text = "Maria Lopez visited Paris on Monday ."
    entities = ner.predict([text])[0]
    assert entities and all(isinstance(e, Entity) and text[e.start : e.end] == e.text for e in entities)
    words = text.split()
    assert len(ner.tag([words])[0]) == len(words)
    out = CliRunner().invoke(main, ["predict", str(run / "dist"), text])
    printed = [line.split("\t") for line in out.output.splitlines()]
    assert out.exit_code == 0 and [(p[0], p[1], int(p[2]), int(p[3])) for p in printed] == [
        ("1", e.label, e.start, e.end) for e in entities
    ]


def test_long_documents_are_read_in_windows_not_truncated(ner_run):
    """A 3,000-word document whose last sentence holds entities: they are found, with the right character spans,
    though the model reads 32 tokens at a time."""
    from edgebert.data.tagged import load_tagged
    from edgebert.runtime import load

    run, _ = ner_run
    ner = load(run / "dist")
    data = load_tagged(DataConfig(train=str(DEMO_NER / "train.conll")), Path)
    # the last sentence: one of the test split's that the model tags right on its own
    test = load_tagged(DataConfig(train=str(DEMO_NER / "test.conll")), Path).train
    alone = ner.tag(test.words)
    last = next(
        i for i, (w, t) in enumerate(zip(test.words, test.tags, strict=True)) if alone[i] == t and len(set(t)) > 2
    )
    filler: list[str] = []
    for words in data.train.words * 2:  # whole sentences, about 3,000 words
        if len(filler) >= 3000:
            break
        filler += words
    document = filler + test.words[last]
    tags = ner.tag([document])[0]
    assert len(tags) == len(document) and len(ner.tokenizer.encode(document, is_pretokenized=True).overflowing) > 100
    text = " ".join(document)
    tail = len(" ".join(filler)) + 1
    found = [e for e in ner.predict([text])[0] if e.end > tail]
    sentence = test.words[last]
    for kind, s, e in entities(test.tags[last]):  # each gold entity overlaps a found one of its type
        start = tail + len(" ".join(sentence[:s])) + (1 if s else 0)
        end = tail + len(" ".join(sentence[:e]))
        assert any(f.label == kind and f.start < end and start < f.end for f in found), (kind, text[start:end], found)
    assert all(text[f.start : f.end] == f.text for f in found)
    assert ner.truncated([text]) == [False]


def test_a_datasets_folder_with_classlabel_tags(tmp_path):
    datasets = pytest.importorskip("datasets")
    tags = datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": tags})
    rows = {"tokens": [["Ann", "Lee", "in", "Rome"]], "ner_tags": [[1, 2, 0, 3]]}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "ds"))
    ds = _load(tmp_path, train="ds", eval="ds", tags="ner_tags")
    assert ds.train.tags == [["B-PER", "I-PER", "O", "B-LOC"]] and ds.types == ("LOC", "PER")


def test_check_measures_entity_f1_on_conll_data(ner_run, tmp_path):
    run, _ = ner_run
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets: {entity_f1: 50%, size: 10 MB}\n")
    args = ["check", str(run / "dist"), "--budgets", str(budgets), "--data", str(DEMO_NER / "test.conll"), "--json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    recorded = json.loads((run / "dist" / "edgebert.json").read_text())["metrics"]["shipped"]["entity_f1"]["value"]
    assert report["measurements"]["entity_f1"]["candidate"]["value"] == recorded  # the same test file
    accuracy = tmp_path / "a.yaml"
    accuracy.write_text("budgets: {accuracy: 50%}\n")
    out = CliRunner().invoke(main, ["check", str(run / "dist"), "--budgets", str(accuracy)])
    assert out.exit_code == 2 and "for this token classifier use entity_f1" in out.output


def test_the_mobile_form_and_its_ort_file_tag_like_the_dist(ner_run, tmp_path):
    """A tagger's mobile form (fixed [1, 32], NNAPI operators, static INT8) and its .ort file: the test split's
    words tagged as the dynamic-shape dist tags them, and the run records both in the manifest."""
    from edgebert.data.tagged import load_tagged
    from edgebert.runtime import load
    from edgebert.runtime.token_classification import TokenClassifier

    run, _ = ner_run
    recipe = run.parent.parent / "recipe.yaml"  # the recipe the shared run ran
    rerun(run.parent, recipe, tmp_path, "export.mobile=true", "quantize.calibration.samples=32")
    dist = tmp_path / "runs" / "tiny" / "dist"
    manifest = json.loads((dist / "edgebert.json").read_text())
    mobile = manifest["mobile_model"]
    assert mobile["input_shape"] == [1, 32] and mobile["ort_format"]["max_abs_diff_vs_onnx"] < 1e-4
    assert mobile["usability"]["nnapi"]["verdict"] == "YES"
    splits = {split: str(DEMO_NER / f"{name}.conll") for split, name in (("train", "train"), ("eval", "dev"))}
    words = load_tagged(DataConfig(**splits, test=str(DEMO_NER / "test.conll")), Path).test.words
    labels = manifest["task"]["labels"]
    fixed = TokenClassifier.from_files(dist / "model.mobile.ort", dist / "tokenizer.json", labels, 32)
    assert fixed.fixed_seq == 32
    got, ref = fixed.tag(words), load(dist).tag(words)
    same = sum(a == b for g, r in zip(got, ref, strict=True) for a, b in zip(g, r, strict=True))
    assert same / sum(map(len, ref)) > 0.98  # static QDQ ranges against the dist's dynamic ones: 99.4% measured
    shipped = manifest["metrics"]["shipped"]["entity_f1"]["value"]
    assert abs(mobile["metrics"]["entity_f1"]["value"] - shipped) < 0.05


def test_rewritten_copies_swap_mentions_of_the_same_type_and_keep_their_tags():
    """Mention replacement: each copy's tags are valid IOB2, its entities are train mentions of the types the
    sentence had, in order; context words change only as asked; repeatable by seed."""
    from edgebert.data.augment import _mentions, rewrite_tagged

    words = [["Smith", "met", "Jones", "in", "New", "York"], ["Paris", "is", "big"], ["no", "names", "here"]]
    tags = [["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"], ["B-LOC", "O", "O"], ["O", "O", "O"]]
    pool = {("PER", ("Smith",)), ("PER", ("Jones",)), ("LOC", ("New", "York")), ("LOC", ("Paris",))}
    w, t = rewrite_tagged(words, tags, copies=30, seed=1, mentions=1.0, mask=0, replace=0)
    assert (w, t) == rewrite_tagged(words, tags, copies=30, seed=1, mentions=1.0, mask=0, replace=0)
    assert w and len(w) == len(t) and all(len(a) == len(b) for a, b in zip(w, t, strict=True))
    assert ["no", "names", "here"] not in w and words[0] not in w  # a copy equal to its sentence is left out
    for copy, copy_tags in zip(w, t, strict=True):
        found = _mentions(copy_tags)
        assert [kind for *_, kind in found] in (["PER", "PER", "LOC"], ["LOC"])
        assert all((kind, tuple(copy[s:e])) in pool for s, e, kind in found)
        assert [x for x, tag in zip(copy, copy_tags, strict=True) if tag == "O"] in (["met", "in"], ["is", "big"])
    assert any(c[:2] == ["New", "York"] and len(c) == 4 for c in w)  # mentions move between sentences
    none, _ = rewrite_tagged(words, tags, copies=5, seed=1, mentions=0.0, mask=0, replace=0)
    assert none == []  # nothing asked, nothing rewritten
    masked, masked_tags = rewrite_tagged(words, tags, copies=5, seed=1, mentions=0.0, mask=0.5, replace=0)
    assert masked and all("[MASK]" in c for c in masked)
    assert all(
        tag == "O"
        for c, ct in zip(masked, masked_tags, strict=True)
        for x, tag in zip(c, ct, strict=True)
        if x == "[MASK]"
    )
    one = [["a", "b", "c", "d", "Smith"]], [["O", "O", "O", "O", "B-PER"]]
    dropped, dropped_tags = rewrite_tagged(*one, 5, seed=1, mentions=0.0, mask=0.5, replace=0, mask_token=None)
    assert dropped and all(len(c) < 5 and c[-1] == "Smith" for c in dropped)  # no mask token: the word goes
    assert all(ct == ["O"] * (len(ct) - 1) + ["B-PER"] for ct in dropped_tags)


def test_distillation_reads_tagged_copies_as_labelled_rows(tiny_bert, tmp_path):
    """distill.augment on tagged sentences: the copies keep gold tags (the task loss reads them), not SOFT rows;
    `mentions` is refused with one line for a task without entity tags."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from edgebert.data.tagged import TagDataset, TagSplit
    from edgebert.progress import Reporter
    from edgebert.recipe import DistillConfig
    from edgebert.stages.distill import training_set
    from edgebert.tasks import get

    task = get("token-classification")
    words = [["Smith", "met", "Jones"], ["Paris", "is", "big"], ["Jones", "left", "Rome"]]
    tags = [["B-PER", "O", "B-PER"], ["B-LOC", "O", "O"], ["B-PER", "O", "B-LOC"]]
    train = TagSplit(words, tags, "t")
    labels = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
    data = TagDataset(train, train, train, labels, ("PER", "LOC"), "iob2")
    ctx = SimpleNamespace(recipe=SimpleNamespace(data=SimpleNamespace(max_length=32)), reporter=Reporter())
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    plain = training_set(task, tokenizer, data, DistillConfig(num_layers=1), ctx, "distill")
    cfg = DistillConfig(num_layers=1, augment={"copies": 4, "mentions": 1.0, "mask": 0, "replace": 0, "seed": 2})
    more = training_set(task, tokenizer, data, cfg, ctx, "distill")
    assert len(plain) == 3 and more.features[:3] == plain.features and len(more) > 3
    for row in more.features[3:]:
        gold = [x for x in row["labels"] if x != task.IGNORE]
        assert len(gold) == 3 and task.SOFT not in gold and set(gold) <= {0, 1, 3}

    recipe = {
        "version": 1,
        "name": "r",
        "task": "text-classification",
        "teacher": {"model": str(tiny_bert)},
        "data": {"train": "t.tsv", "test": "t.tsv"},
        "distill": {"num_layers": 1, "augment": {"copies": 1, "mentions": 0.5}},
    }
    from edgebert.recipe import parse_recipe

    with pytest.raises(RecipeError, match="distill.augment.mentions swaps entity mentions"):
        parse_recipe(recipe)
