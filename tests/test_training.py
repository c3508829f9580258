"""Training where users train: the teacher's outputs cached, progress lines for logs, a fine-tune interrupted
(SIGINT, SIGKILL) and resumed to the same weights. Two processes against one: tests/test_minilm.py."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, write_recipe


def test_line_reporter_prints_a_plain_line_every_interval():
    from rich.console import Console

    from edgebert.progress import LineReporter

    ticks = iter([0.0, 4.0, 11.0, 12.0, 23.0, 24.0])
    out = io.StringIO()
    reporter = LineReporter(every_s=10, console=Console(file=out, width=200), clock=lambda: next(ticks))
    for step in reporter.track(range(5), "distill epoch 1/2", 5):
        reporter.note(loss=1.0 / (step + 1))
    lines = out.getvalue().splitlines()
    assert lines == [
        "  distill epoch 1/2: 2/5 (40%), loss 0.5000, 0.18/s, 0m16s left",
        "  distill epoch 1/2: 4/5 (80%), loss 0.2500, 0.17/s, 0m05s left",
    ]


def test_cached_teacher_outputs_are_the_teacher_s_own(tiny_bert):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.training.teacher_cache import TeacherCache

    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_bert, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["a warm and funny film", "dull", "the plot is thin but the acting is good"]
    cache = TeacherCache(teacher, hidden=[0, 2], attention=[1], budget_gb=1)
    first = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    cache(first)
    # the same sentences in another batch: longer padding, another order; now served from the cache
    batch = dict(tokenizer([texts[2], "x " * 20, texts[0]], padding=True, return_tensors="pt"))
    cached = cache(batch)
    with torch.no_grad():
        direct = teacher(**batch, output_hidden_states=True, output_attentions=True)
    mask = batch["attention_mask"].bool()
    assert torch.allclose(cached.logits, direct.logits, atol=1e-2)
    assert torch.allclose(cached.hidden_states[2][mask], direct.hidden_states[2][mask], atol=1e-2)
    keys = mask[:, None, None, :] & mask[:, None, :, None]
    assert torch.allclose(
        cached.attentions[1][keys.expand_as(cached.attentions[1])],
        direct.attentions[1][keys.expand_as(direct.attentions[1])],
        atol=1e-3,
    )
    assert cached.hidden_states[1] is None and cached.attentions[0] is None  # only the mapped layers are kept
    assert cache.stats()["sentences"] == 4 and cache.stats()["hit_rate"] == pytest.approx(2 / 6, abs=1e-4)

    nothing = TeacherCache(teacher, hidden=[0], attention=[], budget_gb=0)
    nothing(first)
    assert nothing.stats()["sentences"] == 0  # no memory given: recomputed every time


def _small_bert(folder: Path) -> Path:
    """A BERT slow enough (4 layers, 128 wide) that an epoch takes seconds, so a test can stop it mid-fit."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w for line in (DEMO / "train.tsv").read_text().lower().split() for w in re.findall(r"\w+", line)})
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _compress(recipe: Path, runs: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "edgebert", "compress", str(recipe), "--runs-dir", str(runs), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def finetune(tmp_path_factory):
    """A three-epoch fine-tune of the small BERT, run once without interruption: (recipe, its teacher folder)."""
    folder = tmp_path_factory.mktemp("finetune")
    model = _small_bert(folder / "model")
    recipe = write_recipe(
        folder, str(model), teacher={"model": str(model), "finetune": {"epochs": 3, "batch_size": 2, "lr": 1e-4}}
    )
    run = _compress(recipe, folder / "runs", "--until", "teacher")
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    return recipe, folder / "runs" / "tiny" / "teacher"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_finetune_resumes_to_the_same_weights(finetune, tmp_path, sig):
    recipe, uninterrupted = finetune
    runs = tmp_path / "runs"
    run = _compress(recipe, runs, "--until", "teacher")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stop it once the first epoch's checkpoint is written
        states = list(runs.glob("tiny/.teacher.tmp-*/checkpoints/teacher/state.json"))
        if states and json.loads(states[0].read_text())["progress"]["epoch"] >= 1:
            run.send_signal(sig)
            break
        assert run.poll() is None, run.communicate()[1]
        time.sleep(0.02)
    _, err = run.communicate(timeout=60)
    assert run.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
    assert not (runs / "tiny" / "teacher").exists()
    stopped_after = json.loads(states[0].read_text())["progress"]["epoch"]
    assert 1 <= stopped_after < 3

    again = _compress(recipe, runs, "--until", "teacher")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"resumed after epoch {stopped_after}" in err
    assert "teacher epoch 1:" not in err  # the first epoch is not redone
    resumed, reference = _weights(runs / "tiny" / "teacher"), _weights(uninterrupted)
    worst = max((resumed[k] - reference[k]).abs().max().item() for k in reference)
    print(f"max |resumed - uninterrupted| = {worst:.3g} after {sig.name} in epoch {stopped_after + 1}")
    assert worst == 0.0
    assert not list((runs / "tiny").glob(".teacher.tmp-*"))  # checkpoints go when the stage completes
