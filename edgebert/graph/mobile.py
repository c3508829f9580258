"""How much of a model ONNX Runtime's mobile execution providers would take: NNAPI (Android) and CoreML
(iOS, NeuralNetwork and MLProgram formats), as shares of nodes and numbers of partitions, as the graph is and
with its input shapes fixed. The analysis is ORT's own (`onnxruntime.tools.check_onnx_model_mobile_usability`);
this module runs the same steps and returns the figures as data instead of log lines, so they can go into the
manifest and the report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

EPS = {
    "nnapi": None,
    "coreml_neuralnetwork": "coreml_supported_neuralnetwork_ops.md",
    "coreml_mlprogram": "coreml_supported_mlprogram_ops.md",
}


def usability(model: Path) -> dict:
    """Per EP: nodes, supported share, partitions and ORT's verdict (YES/MAYBE/NO), as is and with fixed shapes."""
    import logging

    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / model.name
        # the checker's own first step: BASIC-level optimisation, as a converted .ort model would have
        optimize_model(model, optimized, use_external_initializers=True)
        graph = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic_inputs, _ = checker.check_shapes(graph.graph)
        report: dict = {"dynamic_inputs": [i.name for i in dynamic_inputs]}
        for ep, config in EPS.items():
            report[ep] = {}
            for fixed, label in ((True, "as_is"), (False, "fixed_shapes")):
                if config is None:
                    info = checker.check_nnapi_partitions(graph, require_fixed_input_sizes=fixed)
                else:
                    info = checker.check_coreml_partitions(graph, fixed, config)
                report[ep][label] = {
                    "nodes": info.num_nodes,
                    "supported_nodes": info.num_supported_nodes,
                    "supported_share": round(info.num_supported_nodes / max(1, info.num_nodes), 4),
                    "partitions": info.num_partitions,
                    "verdict": info.suitability().name,
                    "unsupported_ops": sorted(op.split(":")[-1] for op in info.unsupported_ops),
                }
    for ep in EPS:
        best = max(report[ep].values(), key=lambda r: ("NO", "MAYBE", "YES").index(r["verdict"]))
        report[ep]["verdict"] = best["verdict"]
    return report


def summary_line(report: dict) -> str:
    parts = []
    for ep in EPS:
        r = report[ep]["fixed_shapes"]
        parts.append(f"{ep} {r['verdict']} ({r['supported_share']:.0%} of nodes, {r['partitions']} partitions)")
    return "; ".join(parts)
