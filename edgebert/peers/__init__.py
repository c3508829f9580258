"""Peers: what a user would ship without edgebert, built from the same teacher in the same run, so that "x faster
than what I would do otherwise" is measured on the user's machine rather than quoted.

    optimum-int8   Optimum's ONNX export of the teacher, then ORTQuantizer dynamic INT8 with the preset for this
                   CPU (text and token classification)
    optimum-o2-int8  the same with ORTOptimizer's O2 fusions before the quantizer (Optimum's optimization guide)
    st-int8        sentence-transformers' ONNX backend and export_dynamic_quantized_onnx_model, the preset for
                   this CPU; its pooling runs in Python after the model, as its users run it (sentence embeddings)

The evaluate stage builds them (`benchmark.peers`) and scores them on the test and eval splits like any model;
the benchmark stage times each beside the shipped model in paired rounds. Nothing here times or judges.

    >>> peer = build("optimum-int8", task, teacher_dir, out, options)
    >>> peer.model, peer.preset
    (…/optimum-int8/model_quantized.onnx, 'avx2')
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from edgebert.timing import machine
from edgebert.timing.versus import faster

if TYPE_CHECKING:
    from edgebert.tasks import Task

# each peer's module and what its module's build is told; a task module's PEERS names the peers it has
PEERS = {
    "optimum-int8": ("edgebert.peers.optimum_int8", {}),
    "optimum-o2-int8": ("edgebert.peers.optimum_int8", {"optimize": "O2"}),
    "st-int8": ("edgebert.peers.st_int8", {}),
}


@dataclass(frozen=True)
class Peer:
    name: str
    model: Path  # the ONNX file that is timed
    tokenizer: Path
    preset: str  # the quantization preset, chosen for this CPU
    how: str  # one line: how it was built, for the report

    def as_dict(self, root: Path) -> dict:
        d = asdict(self)
        return d | {"model": str(self.model.relative_to(root)), "tokenizer": str(self.tokenizer.relative_to(root))}

    @classmethod
    def from_dict(cls, d: dict, root: Path) -> Peer:
        return cls(**(d | {"model": root / d["model"], "tokenizer": root / d["tokenizer"]}))


def default_for(task: str) -> str:
    """The peer edgebert builds for `task` (named in the error for a mismatched one)."""
    from edgebert.tasks import get

    return get(task).PEERS[0]


def unsupported(name: str, task: str) -> str | None:
    """Why `name` cannot be `task`'s peer, in one line; None when it can."""
    if name not in PEERS:
        return f"benchmark.peers: {name!r} is not a peer edgebert builds; peers: {', '.join(PEERS)}"
    from edgebert.tasks import get

    if name not in get(task).PEERS:
        return f"benchmark.peers: {name} is not a {task} model; the {task} peer is {default_for(task)}"
    return None


def preset() -> str:
    """The dynamic-quantization preset for this CPU, as Optimum and sentence-transformers name them: arm64, or on
    x86 avx512_vnni (AVX-512 VNNI or AMX: signed int8 weights), avx512, else avx2 (unsigned weights, which
    CPUs without VNNI multiply without saturating)."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    flags = set(machine.flags())
    if flags & {"avx512_vnni", "amx_int8"}:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def _module(name: str) -> ModuleType:
    return importlib.import_module(PEERS[name][0])


def build(name: str, task: Task, teacher_dir: Path, out: Path, options, for_preset: str | None = None) -> Peer:
    """Build peer `name` of the teacher in `teacher_dir` under `out` (`options`: trust_remote_code, revision), with
    this CPU's preset unless `for_preset` names another (a peer built here to be timed on another machine)."""
    extra = PEERS[name][1]
    return _module(name).build(name, task, Path(teacher_dir), Path(out), for_preset or preset(), options, **extra)


def predictor(peer: Peer, task: Task, data, max_length: int):
    """What scores the peer the way its users run it (the task's seam: `onnx_outputs` reads it)."""
    return _module(peer.name).predictor(peer, task, data, max_length)


def compare(evaluation: dict, benchmark: dict, threads: int) -> dict:
    """Each peer against the shipped model, from the recorded evaluate and benchmark summaries: how it was built,
    its file, the primary metric's difference (shipped minus peer, points) on the test and eval splits, and
    "x faster" per workload (peer time over shipped time, with the interval); `best` names the peer the shipped
    model is least ahead of at the fixed input. {} without peers."""
    timed = benchmark.get("vs_peers", {}).get(str(threads), {})
    if not timed:
        return {}
    metric, shipped = evaluation["primary_metric"], evaluation["shipped"]
    on_eval = evaluation.get("eval_split", {}).get("models", {})

    def diff(models: dict, name: str) -> float | None:
        if name not in models or shipped not in models:
            return None
        return round((models[shipped][metric]["value"] - models[name][metric]["value"]) * 100, 2)

    out = {}
    for name, workloads in timed.items():
        built = evaluation.get("peers", {}).get(name, {})
        out[name] = {
            "how": built.get("how"),
            "preset": built.get("preset"),
            "file_mb": benchmark.get("file_mb", {}).get(name),
            metric: {"test": evaluation["models"][name][metric], "eval": on_eval.get(name, {}).get(metric)},
            "shipped_minus_peer_points": {"test": diff(evaluation["models"], name), "eval": diff(on_eval, name)},
            "x_faster": {w: faster(r) for w, r in workloads.items()},
        }
    fixed = lambda n: next(iter(out[n]["x_faster"].values()))["x"]  # noqa: E731
    return {"threads": threads, "best": min(out, key=fixed), "peers": out}
