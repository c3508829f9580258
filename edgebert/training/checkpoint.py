"""Resumable training: the whole state of a fit (model, best epoch's weights, optimizer, scheduler, RNGs, epoch and
step) saved after every epoch (and every N steps if asked), so a re-run after an interruption continues from it
and reaches the same weights as an uninterrupted run.

Tensors go to safetensors and everything else to JSON, each written to a temporary folder and renamed into
place: a checkpoint is either whole or absent, and loading it unpickles nothing. The pipeline keeps checkpoints
in the stage's temporary folder and removes them when the stage completes (edgebert.runs).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

TENSORS, META = "state.safetensors", "state.json"


def save(folder: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    from safetensors.torch import save_file

    partial = folder.with_name(f"{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, str(partial / TENSORS))
    (partial / META).write_text(json.dumps(meta))
    old = folder.with_name(f"{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(partial, folder)
    shutil.rmtree(old, ignore_errors=True)


def load(folder: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(tensors, meta), or None when there is no whole checkpoint."""
    from safetensors.torch import load_file

    if not (folder / META).is_file() or not (folder / TENSORS).is_file():
        return None
    return load_file(str(folder / TENSORS)), json.loads((folder / META).read_text())


def pack_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state_dict split into tensors and JSON."""
    tensors, plain = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                plain[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def unpack_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["plain"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


@dataclass
class Progress:
    """Where a fit is, besides its tensors."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in the current epoch
    running: float = 0.0  # the current epoch's summed loss, for its mean
    seen: int = 0
    finished: bool = False


class Resumable:
    """A fit's model, optimizer, scheduler, RNGs and best weights, saved to and restored from `folder` (None:
    nothing is saved). Only the main process writes; every process reads."""

    def __init__(self, model, optimizer, schedule, folder: Path | None, acc) -> None:
        self.model, self.optimizer, self.schedule, self.folder, self.acc = model, optimizer, schedule, folder, acc
        self.best: dict[str, torch.Tensor] | None = None
        self.epoch_rng: torch.Tensor | None = None
        self.generator, self.result, self.fingerprint = None, None, ""

    def keep_best(self) -> None:
        self.best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_best(self) -> None:
        if self.best is not None:
            self.model.load_state_dict(self.best)

    def restore(self, generator: torch.Generator, result, fingerprint: str) -> Progress:
        """Load the checkpoint into the model, optimizer, scheduler, RNGs and `result`, when one matches."""
        self.generator, self.result, self.fingerprint = generator, result, fingerprint
        found = load(self.folder) if self.folder is not None else None
        if found is None or found[1].get("fingerprint") != fingerprint:
            return Progress()
        tensors, meta = found
        self.model.load_state_dict(unprefixed("model.", tensors))
        self.best = unprefixed("best.", tensors) or None
        self.optimizer.load_state_dict(unpack_optimizer(tensors, meta["optimizer"]))
        self.schedule.load_state_dict(meta["schedule"])
        generator.set_state(tensors["rng.generator"])
        torch.set_rng_state(tensors["rng.torch"])
        cuda = unprefixed("rng.cuda.", tensors)
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([cuda[str(i)] for i in range(len(cuda))])
        self.epoch_rng = tensors.get("rng.epoch")
        for name, value in meta["result"].items():
            setattr(result, name, value)
        return Progress(**meta["progress"])

    def save(self, progress: Progress, epoch_rng: torch.Tensor | None = None) -> None:
        if self.folder is None or not self.acc.is_main_process:
            return
        optimizer_tensors, optimizer_meta = pack_optimizer(self.optimizer.state_dict())
        tensors = {
            **prefixed("model.", self.model.state_dict()),
            **prefixed("best.", self.best or {}),
            **optimizer_tensors,
            "rng.generator": self.generator.get_state(),
            "rng.torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        if epoch_rng is not None:
            tensors["rng.epoch"] = epoch_rng
        result = {k: getattr(self.result, k) for k in ("best_score", "best_epoch", "history")}
        meta = {
            "fingerprint": self.fingerprint,
            "progress": asdict(progress),
            "result": result,
            "optimizer": optimizer_meta,
            "schedule": self.schedule.state_dict(),
        }
        save(self.folder, tensors, meta)
