"""Where training runs: one Hugging Face Accelerator per process, from the recipe's `training:` section.

Accelerate owns devices, mixed precision and several processes (`accelerate launch`, `torchrun`: DDP over NCCL on
GPUs, gloo on CPUs, one machine or several); edgebert writes no launcher. One process is the main one: it alone
writes stages and runs the ONNX stages; the others only train (see edgebert.pipeline).

    >>> world()          # (rank, number of processes), read from the launcher's environment; (0, 1) when run plainly
    (0, 1)
"""

from __future__ import annotations

import os

from edgebert.errors import RecipeError
from edgebert.recipe import TrainingConfig

_current: tuple[tuple[str, str], object] | None = None


def world() -> tuple[int, int]:
    """(rank, world size) as `accelerate launch` and `torchrun` set them, before any process group exists."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if world()[1] > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def accelerator(settings: TrainingConfig):
    """This process's Accelerator for `settings` (made once; made anew when the settings change, as in tests)."""
    global _current
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    key = (settings.device, settings.precision)
    if _current is not None and _current[0] == key:
        return _current[1]
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if settings.device == "cuda" and not cuda:
        raise RecipeError("training.device is cuda but torch sees no CUDA device: set training.device: auto or cpu")
    if settings.device == "mps" and not mps:
        raise RecipeError("training.device is mps but torch sees no Apple MPS device: set training.device: auto")
    cpu = settings.device == "cpu" or (settings.device == "auto" and not cuda and not mps)
    if settings.precision == "fp16" and cpu:
        raise RecipeError("training.precision fp16 needs a GPU: on a CPU use bf16 or no")
    if _current is not None:
        AcceleratorState._reset_state(reset_partial_state=False)  # one process, new settings (tests)
    made = Accelerator(cpu=cpu, mixed_precision=settings.precision)
    if made.num_processes != world()[1]:  # the process group was set up before, for another device
        raise RecipeError(
            f"{world()[1]} processes were launched but training runs in {made.num_processes}: "
            f"check training.device ({settings.device}) against the devices the launcher gave each process"
        )
    _current = (key, made)
    return made


def join(settings: TrainingConfig) -> None:
    """In a multi-process launch, set up the process group for the recipe's device before anything waits on it
    (a barrier made first would set it up for the default device)."""
    if world()[1] > 1:
        accelerator(settings)


def describe(acc, cfg) -> dict:
    """What a stage summary and the manifest record of where a model was trained."""
    processes = acc.num_processes
    return {
        "device": str(acc.device.type),
        "precision": acc.mixed_precision,
        "processes": processes,
        "effective_batch": cfg.batch_size,
        "micro_batch": -(-cfg.batch_size // (processes * cfg.grad_accumulation)),
    }


def from_main(values: list[float]) -> list[float]:
    """`values` as the main process has them: decisions that shape the model (which heads to prune, a fraction
    found by timing) must be the same in every process. A no-op in a single process."""
    if world()[1] == 1:
        return values
    import torch
    from accelerate import PartialState
    from accelerate.utils import broadcast

    return broadcast(torch.tensor(values, dtype=torch.float64, device=PartialState().device), 0).tolist()
