"""Training where users train: the teacher's outputs cached, progress lines for logs, a fine-tune interrupted
(SIGINT, SIGKILL) and resumed to the same weights. Two processes against one: tests/test_minilm.py."""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, save_sentiment_bert, write_recipe


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
    shape = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256)
    return save_sentiment_bert(folder, max_position_embeddings=64, **shape)


def _compress(recipe: Path, runs: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "edgebert", "compress", str(recipe), "--runs-dir", str(runs), *extra]
    # Ctrl-C as a terminal delivers it: a shell's background job (`make test &`) starts with SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler, so the child gets the default disposition back
    restore = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore
    )


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


def _tiny_fit(tiny_bert, tmp_path, training=None, **train):
    """One epoch of the tiny BERT's fine-tune on the demo data through fit, dropout off; returns (model, result)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edgebert.data import load_data
    from edgebert.progress import Reporter
    from edgebert.recipe import DataConfig, TrainConfig
    from edgebert.tasks import get
    from edgebert.training.loop import Splits, fit

    task = get("text-classification")
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    data = load_data(DataConfig(train=str(DEMO / "train.tsv"), eval=str(DEMO / "dev.tsv")), Path)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-3, **train)
    train_split = data.train.head(cfg.max_train_samples)
    encoded = (task.encode(tokenizer, split, data, 32) for split in (train_split, data.eval))
    splits = Splits(*encoded, tokenizer, task)
    result = fit(model, splits, cfg, lambda m, b: m(**b).loss, Reporter(), "teacher", training=training)
    return model, result


def test_grad_accumulation_splits_the_batch_without_changing_the_step(tiny_bert, tmp_path):
    """batch_size is the sentences per optimizer step: four micro-batches of 4 give the weights one batch of 16
    gives (dropout off; float rounding apart)."""
    import torch

    sentences = dict(max_train_samples=192)  # 12 whole batches (a last batch smaller than 4 would be skipped)
    whole, _ = _tiny_fit(tiny_bert, tmp_path, **sentences)
    split, result = _tiny_fit(tiny_bert, tmp_path, grad_accumulation=4, **sentences)
    pairs = zip(whole.state_dict().values(), split.state_dict().values(), strict=True)
    worst = max((a - b).abs().max().item() for a, b in pairs)
    assert worst < 1e-5
    # training.device auto, as edgebert.training.devices picks it: CUDA, else Apple MPS, else the CPU
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    device = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    assert result.where == dict(device=device, precision="no", processes=1, effective_batch=16, micro_batch=4)


def test_bf16_on_the_cpu_trains_and_is_recorded_and_fp16_needs_a_gpu(tiny_bert, tmp_path):
    import torch

    from edgebert.errors import RecipeError
    from edgebert.recipe import TrainingConfig

    model, result = _tiny_fit(tiny_bert, tmp_path, training=TrainingConfig(precision="bf16"))
    assert result.where["precision"] == "bf16" and result.best_score > 0
    assert next(model.parameters()).dtype == torch.float32  # mixed precision: the weights stay FP32
    if not torch.cuda.is_available():
        with pytest.raises(RecipeError, match="fp16 needs a GPU"):
            _tiny_fit(tiny_bert, tmp_path, training=TrainingConfig(precision="fp16"))
    _tiny_fit(tiny_bert, tmp_path)  # back to the default precision in this process
