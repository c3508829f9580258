"""The teacher's outputs, computed once: distillation and recovery show the teacher the same sentences every epoch,
and a teacher in eval mode (no dropout) answers the same each time, so its forward pass runs once per sentence and
what the losses read is kept in memory as float16: the logits, the hidden states and the attention maps of the
layers the student is mapped to (nothing else).

Rows are keyed by their token ids, so the cache needs no bookkeeping from the batching: a batch looks each sentence
up, runs the teacher on the ones it has not seen, and pads the cached rows back to the batch's length. Padded
positions come back as zeros, which the losses mask. Sentences beyond `budget_gb` are recomputed every time.

    >>> cached = TeacherCache(teacher, hidden=[0, 2, 4, 6], attention=[1, 3, 5], budget_gb=4)
    >>> out = cached(batch)           # .logits, .hidden_states[h], .attentions[layer], as the teacher's own
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Outputs:
    logits: torch.Tensor
    hidden_states: list[torch.Tensor | None] | None
    attentions: list[torch.Tensor | None] | None


def logits(outputs, attention_mask: torch.Tensor) -> torch.Tensor:
    return outputs.logits


class TeacherCache:
    """`target(outputs, attention_mask)` is what the task's output term reads from the teacher (the task module's
    `distill_target`: logits for classifiers, the pooled vector for sentence embeddings); it comes back as
    `.logits`, whatever it is."""

    def __init__(
        self, teacher, hidden: list[int], attention: list[int], budget_gb: float, target: Callable = logits
    ) -> None:
        self.teacher, self.hidden, self.attention, self.target = teacher, hidden, attention, target
        self.budget = int(budget_gb * (1 << 30))
        self.rows: dict[tuple, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = {}
        self.bytes = self.hits = self.misses = 0

    def __call__(self, batch: dict) -> Outputs:
        mask = batch["attention_mask"]
        lengths = mask.sum(1).tolist()
        if not all(bool(mask[i, :n].all()) for i, n in enumerate(lengths)):  # left padding: not cacheable here
            out = self._forward(batch)
            return Outputs(self.target(out, mask), out.hidden_states, out.attentions)
        keys = [self._key(batch, i, n) for i, n in enumerate(lengths)]
        missing = [i for i, k in enumerate(keys) if k not in self.rows]
        fresh = {}
        if missing:
            sub = {k: v[missing] for k, v in batch.items()}
            out = self._forward(sub)
            target = self.target(out, sub["attention_mask"])
            for j, i in enumerate(missing):
                fresh[i] = self._row(out, target, j, lengths[i])
                size = sum(t.numel() * t.element_size() for t in fresh[i] if t is not None)
                if self.bytes + size <= self.budget and keys[i] not in self.rows:
                    self.rows[keys[i]] = fresh[i]
                    self.bytes += size
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = [fresh[i] if i in fresh else self.rows[k] for i, k in enumerate(keys)]
        return self._assemble(rows, mask.shape[1], mask.device)

    def stats(self) -> dict:
        seen = self.hits + self.misses
        return {
            "sentences": len(self.rows),
            "mb": round(self.bytes / 1e6, 1),
            "hit_rate": round(self.hits / seen, 4) if seen else 0.0,
        }

    def _key(self, batch: dict, i: int, n: int) -> tuple:
        key = tuple(batch["input_ids"][i, :n].tolist())
        types = batch.get("token_type_ids")
        return key if types is None or not bool(types[i, :n].any()) else key + tuple(types[i, :n].tolist())

    def _forward(self, batch: dict):
        if next(self.teacher.parameters()).device != batch["input_ids"].device:
            self.teacher.to(batch["input_ids"].device)
        with torch.no_grad():
            return self.teacher(**batch, output_hidden_states=bool(self.hidden), output_attentions=bool(self.attention))

    def _row(self, out, target: torch.Tensor, j: int, n: int):
        logits = target[j]
        logits = logits[:n] if logits.dim() == 2 else logits  # per token (token classification) or per sentence
        hidden = torch.stack([out.hidden_states[h][j, :n] for h in self.hidden]) if self.hidden else None
        attention = torch.stack([out.attentions[a][j, :, :n, :n] for a in self.attention]) if self.attention else None
        return tuple(t.to("cpu", torch.float16) if t is not None else None for t in (logits, hidden, attention))

    def _assemble(self, rows: list[tuple], length: int, device) -> Outputs:
        """The batch's outputs from cached rows, zero-padded to `length`, as float32 on `device`."""
        logits = [r[0] for r in rows]
        per_token = logits[0].dim() == 2  # token classification: [n, labels]; else [labels] or [dim]
        logits = _padded(logits, length, dims=1) if per_token else torch.stack([t.float() for t in logits])
        hidden = attentions = None
        if self.hidden:
            hidden = [None] * (max(self.hidden) + 1)
            for k, h in enumerate(self.hidden):
                hidden[h] = _padded([r[1][k] for r in rows], length, dims=1).to(device)
        if self.attention:
            attentions = [None] * (max(self.attention) + 1)
            for k, a in enumerate(self.attention):
                attentions[a] = _padded([r[2][k] for r in rows], length, dims=2).to(device)
        return Outputs(logits.to(device), hidden, attentions)


def _padded(rows: list[torch.Tensor], length: int, dims: int) -> torch.Tensor:
    """Stack rows whose sequence axes (per-token logits or hidden states [n, D]: 1; attention [H, n, n]: 2) are
    shorter than `length`, zero-padded, as float32."""
    out = []
    for t in rows:
        n = t.shape[-2] if dims == 2 else t.shape[0]
        pad = (0, length - n, 0, length - n) if dims == 2 else (0, 0, 0, length - n)
        out.append(torch.nn.functional.pad(t.float(), pad))
    return torch.stack(out)
