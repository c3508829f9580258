"""Which node groups cost accuracy when quantized: each group (embeddings, layer.N, head) is quantized alone,
with the scheme under study, and scored on a slice of the eval split against the FP32 model. The groups whose
quantization loses the most are the ones worth keeping in FP32. Quantizing one group at a time measures each
group's own cost; ORT's qdq_loss_debug compares activations tensor by tensor, which ranks tensors, not the
decision a user makes (which layers to keep in FP32), so it is not used here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgebert.quantization import groups
from edgebert.quantization.calibration import Feeds
from edgebert.quantization.schemes import build
from edgebert.recipe import CalibrationConfig, QuantScheme

Score = Callable[[Path], np.ndarray]  # model -> predicted label ids on the slice


def group_sensitivity(
    scheme: QuantScheme,
    source: Path,
    work: Path,
    predict: Score,
    labels: np.ndarray,
    calibration: list[Feeds] | None,
    calibration_cfg: CalibrationConfig,
) -> list[dict]:
    """Per group: accuracy on the slice with only that group quantized, and agreement with FP32; worst first."""
    fp32 = predict(source)
    fp32_accuracy = float(np.mean(fp32 == labels))
    rows = []
    for group, nodes in groups.node_groups(source).items():
        target = work / f"only-{group}.onnx"
        build(scheme, source, target, calibration, calibration_cfg, only_nodes=nodes)
        pred = predict(target)
        rows.append(
            {
                "group": group,
                "nodes": len(nodes),
                "accuracy": round(float(np.mean(pred == labels)), 4),
                "loss": round(fp32_accuracy - float(np.mean(pred == labels)), 4),
                "agreement_with_fp32": round(float(np.mean(pred == fp32)), 4),
            }
        )
        target.unlink()
    return sorted(rows, key=lambda r: (-r["loss"], r["agreement_with_fp32"]))
