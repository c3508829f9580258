"""ONNX Runtime sessions as edgebert opens them, and file hashing. onnxruntime only.

>>> session = make_session("dist/model.onnx", threads=2)      # full graph optimisation, CPU
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnxruntime as ort

from edgebert.runtime.errors import DistError

OPTIMIZATION = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def make_session(
    model: str | Path,
    threads: int | None = None,
    optimized_path: str | None = None,
    providers: list[str] | None = None,
    graph_optimization: str = "all",
) -> ort.InferenceSession:
    """An ORT session (full graph optimisation unless told); `threads` sets intra-op threads (inter-op stays 1)."""
    if graph_optimization not in OPTIMIZATION:
        raise DistError(f"graph optimisation {graph_optimization!r}: choose from {', '.join(OPTIMIZATION)}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = OPTIMIZATION[graph_optimization]
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: ORT's warnings about saved optimised graphs are not the user's concern
    if threads:
        opts.intra_op_num_threads = threads
    if optimized_path:
        opts.optimized_model_filepath = optimized_path
    try:
        return ort.InferenceSession(str(model), opts, providers=providers or ["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
        raise DistError(f"ONNX Runtime cannot load {model}: {e}") from None


def fixed_shape(session: ort.InferenceSession) -> tuple[int | None, int | None]:
    """(batch, seq) of a fixed-shape model such as the mobile form; None for a dynamic axis."""
    shape = session.get_inputs()[0].shape
    batch = shape[0] if isinstance(shape[0], int) else None
    seq = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None
    return batch, seq


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
