"""The training loop fine-tuning, distillation and recovery share: AdamW, linear warm-up and decay,
length-grouped batches with dynamic padding, the task's dev score after each epoch, the best epoch's weights kept.

Written here rather than with transformers' Trainer because one short loop serves both the plain task loss
and the four-term distillation loss, reports through edgebert's Reporter, and changes no process-wide state
(the RNG is forked and seeded locally). It does not save anything; callers do.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType

import torch
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from edgebert.progress import Reporter
from edgebert.recipe import TrainConfig

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
    task: ModuleType

    def dev_score(self, model) -> float:
        return self.task.dev_score(model, self.dev, self.tokenizer)


def encode_texts(tokenizer, texts: list[str], label_ids: list, max_length: int) -> Encoded:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return Encoded([{**{k: enc[k][i] for k in keys}, "labels": label_ids[i]} for i in range(len(texts))])


def batches(
    data: Encoded,
    tokenizer,
    batch_size: int,
    generator: torch.Generator | None = None,
    group_by_length: bool = True,
    collate: Callable | None = None,
):
    """Batches padded to their longest member by `collate` (the task's); with a generator, shuffled (in groups of
    similar length unless `group_by_length` is false); without one, sorted by length (for evaluation)."""
    if collate is None:
        from transformers import DataCollatorWithPadding

        collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    if generator is None:
        order = sorted(range(len(data)), key=lambda i: len(data.features[i]["input_ids"]))
    elif not group_by_length:
        order = torch.randperm(len(data), generator=generator).tolist()
    else:
        lengths = [len(f["input_ids"]) for f in data.features]
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    for start in range(0, len(order), batch_size):
        yield collate([data.features[i] for i in order[start : start + batch_size]])


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


def fit(
    model, splits: Splits, cfg: TrainConfig, step_loss: Callable[[Batch], torch.Tensor], reporter: Reporter, name: str
) -> FitResult:
    """Train `model` with `step_loss(batch) -> loss`; leaves the best dev epoch's weights in `model`."""
    train, tokenizer, metric = splits.train, splits.tokenizer, splits.task.DEV_METRIC
    collate = splits.task.collator(tokenizer)
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    schedule = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    result = FitResult(best_score=-1.0, best_epoch=0)
    best_state = None
    with seeded(cfg.seed):
        generator = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            running, seen = 0.0, 0
            desc = f"{name} epoch {epoch}/{cfg.epochs}"
            epoch_batches = batches(train, tokenizer, cfg.batch_size, generator, cfg.group_by_length, collate)
            for batch in reporter.track(epoch_batches, desc, steps_per_epoch):
                loss = step_loss(batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                running += loss.item()
                seen += 1
            dev = splits.dev_score(model)
            result.history.append(
                {"epoch": epoch, "train_loss": round(running / max(1, seen), 5), f"dev_{metric}": dev}
            )
            reporter.info(f"  {name} epoch {epoch}: train loss {running / max(1, seen):.4f}, dev {metric} {dev:.4f}")
            if dev > result.best_score:
                result.best_score, result.best_epoch = dev, epoch
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
