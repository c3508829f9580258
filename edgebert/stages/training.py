"""The training loop fine-tuning and distillation share: AdamW, linear warm-up and decay, length-grouped
batches with dynamic padding, dev accuracy after each epoch, and the best epoch's weights kept.

Written here rather than with transformers' Trainer because one short loop serves both the plain
cross-entropy fine-tune and the four-term distillation loss, reports through edgebert's Reporter, and changes
no process-wide state (the RNG is forked and seeded locally). It does not save anything; callers do.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from edgebert.recipe import TrainConfig
from edgebert.reporting import Reporter

Batch = dict[str, torch.Tensor]


@dataclass
class Encoded:
    """A tokenized split: one dict of unpadded features per example (input_ids, attention_mask, labels…)."""

    features: list[dict]

    def __len__(self) -> int:
        return len(self.features)


def encode(tokenizer, texts: list[str], label_ids: list[int], max_length: int) -> Encoded:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return Encoded([{**{k: enc[k][i] for k in keys}, "labels": label_ids[i]} for i in range(len(texts))])


def batches(
    data: Encoded, tokenizer, batch_size: int, generator: torch.Generator | None = None, group_by_length: bool = True
):
    """Batches padded to their longest member; with a generator, shuffled (in groups of similar length unless
    `group_by_length` is false); without one, sorted by length (for evaluation)."""
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


@torch.no_grad()
def accuracy(model, data: Encoded, tokenizer, batch_size: int = 128) -> float:
    model.eval()
    correct = 0
    for batch in batches(data, tokenizer, batch_size):
        labels = batch.pop("labels")
        correct += (model(**batch).logits.argmax(-1) == labels).sum().item()
    return correct / max(1, len(data))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch for a block without touching the caller's RNG state (forked, then restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class FitResult:
    best_accuracy: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)


def fit(
    model,
    train: Encoded,
    dev: Encoded,
    tokenizer,
    cfg: TrainConfig,
    step_loss: Callable[[Batch], torch.Tensor],
    reporter: Reporter,
    name: str,
) -> FitResult:
    """Train `model` with `step_loss(batch) -> loss`; leaves the best dev epoch's weights in `model`."""
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
    result = FitResult(best_accuracy=-1.0, best_epoch=0)
    best_state = None
    with seeded(cfg.seed):
        generator = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            running, seen = 0.0, 0
            desc = f"{name} epoch {epoch}/{cfg.epochs}"
            epoch_batches = batches(train, tokenizer, cfg.batch_size, generator, cfg.group_by_length)
            for batch in reporter.track(epoch_batches, desc, steps_per_epoch):
                loss = step_loss(batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                running += loss.item()
                seen += 1
            dev_acc = accuracy(model, dev, tokenizer)
            result.history.append(
                {"epoch": epoch, "train_loss": round(running / max(1, seen), 5), "dev_accuracy": dev_acc}
            )
            reporter.info(
                f"  {name} epoch {epoch}: train loss {running / max(1, seen):.4f}, dev accuracy {dev_acc:.4f}"
            )
            if dev_acc > result.best_accuracy:
                result.best_accuracy, result.best_epoch = dev_acc, epoch
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
