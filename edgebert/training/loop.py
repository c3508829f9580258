"""The training loop fine-tuning, distillation and recovery share: AdamW, linear warm-up and decay,
length-grouped batches with dynamic padding, the task's dev score after each epoch, the best epoch's weights kept.

Devices, mixed precision and several processes come from Hugging Face Accelerate (edgebert.training.devices):
each optimizer step takes `batch_size` sentences, split across the processes and then into `grad_accumulation`
micro-batches, so the recipe's batch means the same on one CPU as on eight GPUs. With a checkpoint folder the
fit saves its whole state after every epoch (edgebert.training.checkpoint) and continues from it when re-run.

Written here rather than with transformers' Trainer because one short loop serves both the plain task loss
and the four-term distillation loss, reports through edgebert's Reporter, and changes no process-wide state
(the RNG is forked and seeded locally). It saves no model; callers do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from edgebert.errors import RecipeError
from edgebert.progress import Reporter
from edgebert.recipe import TrainConfig, TrainingConfig
from edgebert.training import devices
from edgebert.training.checkpoint import Resumable

if TYPE_CHECKING:
    from edgebert.tasks import Task

Batch = dict[str, torch.Tensor]


@dataclass
class Encoded:
    """A tokenized split: one dict of unpadded features per example (input_ids, attention_mask, labels…)."""

    features: list[dict]

    def __len__(self) -> int:
        return len(self.features)


@dataclass
class Splits:
    """What a training run reads: encoded train and dev splits, their tokenizer, and the task that scores them."""

    train: Encoded
    dev: Encoded
    tokenizer: object
    task: Task

    def dev_score(self, model) -> float:
        return self.task.dev_score(model, self.dev, self.tokenizer)


def encode_texts(tokenizer, texts: list[str], label_ids: list, max_length: int) -> Encoded:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return Encoded([{**{k: enc[k][i] for k in keys}, "labels": label_ids[i]} for i in range(len(texts))])


def batch_order(data: Encoded, batch_size: int, generator=None, group_by_length: bool = True) -> list[list[int]]:
    """Example indices batch by batch: with a generator, shuffled (in groups of similar length unless
    `group_by_length` is false); without one, sorted by length (for evaluation)."""
    if generator is None:
        order = sorted(range(len(data)), key=lambda i: len(data.features[i]["input_ids"]))
    elif not group_by_length:
        order = torch.randperm(len(data), generator=generator).tolist()
    else:
        lengths = [len(f["input_ids"]) for f in data.features]
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def batches(
    data: Encoded,
    tokenizer,
    batch_size: int,
    generator: torch.Generator | None = None,
    group_by_length: bool = True,
    collate: Callable | None = None,
):
    """Batches in `batch_order`, padded to their longest member by `collate` (the task's)."""
    if collate is None:
        from transformers import DataCollatorWithPadding

        collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    for rows in batch_order(data, batch_size, generator, group_by_length):
        yield collate([data.features[i] for i in rows])


def to_device(batch: Batch, device) -> Batch:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch for a block without touching the caller's RNG state (forked, then restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class FitResult:
    best_score: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    where: dict = field(default_factory=dict)  # device, precision, processes, effective batch


def fit(
    model,
    splits: Splits,
    cfg: TrainConfig,
    step_loss: Callable[[torch.nn.Module, Batch], torch.Tensor],
    reporter: Reporter,
    name: str,
    checkpoints: Path | None = None,
    training: TrainingConfig | None = None,
) -> FitResult:
    """Train `model` with `step_loss(model, batch) -> loss` (call the model it is given: in several processes it
    is the DDP wrapper); leaves the best dev epoch's weights in `model`, on the CPU. With `checkpoints`, the state
    is saved there after every epoch and a fit that finds one continues from it."""
    acc = devices.accelerator(training or TrainingConfig())
    parts = acc.num_processes * cfg.grad_accumulation
    if cfg.batch_size < parts:
        raise RecipeError(
            f"{name}: batch_size {cfg.batch_size} is less than processes x grad_accumulation ({parts}): "
            "each process needs at least one sentence per micro-batch"
        )
    steps_per_epoch = len(_steps(batch_order(splits.train, cfg.batch_size), parts))
    total = steps_per_epoch * cfg.epochs
    model.to(acc.device)
    optimizer = torch.optim.AdamW(_parameter_groups(model, cfg), lr=cfg.lr)
    schedule = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    wrapped, optimizer = acc.prepare(model, optimizer)
    state = Resumable(model, optimizer, schedule, checkpoints / _slug(name) if checkpoints else None, acc)
    result = FitResult(best_score=-1.0, best_epoch=0, where=devices.describe(acc, cfg))
    with seeded(cfg.seed):
        generator = torch.Generator().manual_seed(cfg.seed)
        progress = state.restore(generator, result, _fingerprint(name, cfg, splits))
        if progress.step or progress.epoch:
            reporter.info(f"  {name}: resumed after epoch {progress.epoch}, step {progress.step}")
        while not progress.finished and progress.epoch < cfg.epochs:
            _epoch(acc, wrapped, splits, cfg, step_loss, reporter, name, state, progress, steps_per_epoch)
            _after_epoch(model, splits, reporter, name, result, progress, state)
            if progress.epoch < cfg.epochs:
                state.save(progress)
        if not progress.finished:
            progress.finished = True
            state.load_best()
            state.save(progress)
    acc.free_memory()
    model.to("cpu")
    model.eval()
    return result


def _epoch(acc, wrapped, splits, cfg, step_loss, reporter, name, state, progress, steps) -> None:
    train, collate = splits.train, splits.task.collator(splits.tokenizer)
    wrapped.train()
    generator = state.generator
    epoch_rng = state.epoch_rng if progress.step else generator.get_state()
    generator.set_state(epoch_rng)
    parts = acc.num_processes * cfg.grad_accumulation
    order = _steps(batch_order(train, cfg.batch_size, generator, cfg.group_by_length), parts)
    desc = f"{name} epoch {progress.epoch + 1}/{cfg.epochs}"
    for step in reporter.track(range(progress.step, len(order)), desc, steps - progress.step):
        mine = order[step][acc.process_index :: acc.num_processes]
        chunks = [mine[i :: cfg.grad_accumulation] for i in range(cfg.grad_accumulation)]
        loss_value = 0.0
        for j, chunk in enumerate(chunks):
            batch = to_device(collate([train.features[i] for i in chunk]), acc.device)
            syncing = contextlib.nullcontext() if j == len(chunks) - 1 else acc.no_sync(wrapped)
            with syncing, acc.autocast():
                loss = step_loss(wrapped, batch) * (len(chunk) / len(mine))
            acc.backward(loss)
            loss_value += loss.item()
        acc.clip_grad_norm_(wrapped.parameters(), 1.0)
        state.optimizer.step()
        state.schedule.step()
        state.optimizer.zero_grad(set_to_none=True)
        progress.running += loss_value
        progress.seen += 1
        progress.step = step + 1
        reporter.note(loss=progress.running / progress.seen)
        if cfg.checkpoint_every and progress.step % cfg.checkpoint_every == 0 and progress.step < len(order):
            state.save(progress, epoch_rng)


def _after_epoch(model, splits, reporter, name, result, progress, state) -> None:
    metric = splits.task.DEV_METRIC
    dev = splits.dev_score(model)
    train_loss = progress.running / max(1, progress.seen)
    progress.epoch += 1
    result.history.append({"epoch": progress.epoch, "train_loss": round(train_loss, 5), f"dev_{metric}": dev})
    reporter.info(f"  {name} epoch {progress.epoch}: train loss {train_loss:.4f}, dev {metric} {dev:.4f}")
    if dev > result.best_score:
        result.best_score, result.best_epoch = dev, progress.epoch
        state.keep_best()
    progress.step, progress.running, progress.seen = 0, 0.0, 0


def _steps(order: list[list[int]], parts: int) -> list[list[int]]:
    """The batches an epoch steps through: a last batch with fewer sentences than processes x micro-batches
    (`parts`) is skipped, so every micro-batch of every process has one."""
    return [rows for rows in order if len(rows) >= parts]


def _parameter_groups(model, cfg: TrainConfig) -> list[dict]:
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _fingerprint(name: str, cfg: TrainConfig, splits: Splits) -> str:
    """What a checkpoint must match to be resumed: the fit, its settings and its data."""
    blob = json.dumps([name, cfg.model_dump(mode="json"), len(splits.train), splits.train.features[0]], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
