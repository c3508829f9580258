"""The web form of a dist's model: the file onnxruntime-web's WASM build loads.

onnxruntime-web's WASM build is ONNX Runtime's CPU provider compiled to WebAssembly (SIMD; threads in a
cross-origin isolated page): the same kernels, contrib ops included, and the same graph optimisations at load.
So the web form is the dist's model, byte for byte: measured in headless Chromium on the TREC dist, no other form
of the student (INT8 table, fused SkipLayerNormalization, plain graph, static QDQ, FP32) ran faster
(benchmarks/web_forms.py; docs/decisions.md). A model using an operator listed in `NOT_IN_WASM` is refused with
what to do instead (a rewrite, once one is written, is recorded under `changes`). The list is empty:
with onnxruntime-web 1.31.1 every operator edgebert ships ran in Chromium: the browser tests' INT8 models (with
the 4-bit GatherBlockQuantized table), and the MRPC dist (the mixed table's BitShift/Mod/Round, QAttention,
QEmbedLayerNormalization) under benchmarks/web_bench.py. It does not check outputs (the browser tests do) and does
not optimise the graph ahead of time: ORT fuses at load in the browser as it does in Python.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# "domain:operator" -> what to do instead: runs in ONNX Runtime's CPU provider but not in onnxruntime-web's WASM build
NOT_IN_WASM: dict[str, str] = {}


def operators(model: Path) -> list[str]:
    """`domain:op` of every node, sorted (`ai.onnx` is the standard domain): what a runtime must implement."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in graph.node})


def write_web_form(model: Path, out: Path) -> dict:
    """Write the web form of `model` to `out`; returns its record for the manifest's `web_model` block."""
    from edgebert.runtime.session import sha256_file
    from edgebert.web import WebError

    ops = operators(model)
    missing = [op for op in ops if op in NOT_IN_WASM]
    if missing:
        raise WebError(
            f"{model} uses {missing[0]}, which onnxruntime-web's WASM build lacks: {NOT_IN_WASM[missing[0]]}"
        )
    shutil.copyfile(model, out)
    return {
        "source": {"file": model.name, "sha256": sha256_file(model)},
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "operators": ops,
        "changes": [],  # rewrites made for the browser (none needed so far: the model as it is)
    }
