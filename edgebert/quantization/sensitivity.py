"""Which node groups cost accuracy when quantized: each group (embeddings, layer.N, head) is quantized alone,
with the scheme under study, and scored on a slice of the eval split against the FP32 model. The groups whose
quantization loses the most are the ones worth keeping in FP32. Quantizing one group at a time measures each
group's own cost; ORT's qdq_loss_debug compares activations tensor by tensor, which ranks tensors, not the
decision a user makes (which layers to keep in FP32), so it is not used here.
"""

from __future__ import annotations

from pathlib import Path

from edgebert.quantization import groups
from edgebert.quantization.schemes import build
from edgebert.recipe import CalibrationConfig, QuantScheme


def group_sensitivity(
    scheme: QuantScheme, source: Path, work: Path, ctx, calibration_cfg: CalibrationConfig
) -> list[dict]:
    """Per group: the score on the slice with only that group quantized, and agreement with FP32; worst first.
    `ctx` is auto's AutoContext (predict, score, agree, calibration)."""
    fp32 = ctx.predict(source)
    fp32_score = ctx.score(fp32)
    rows = []
    for group, nodes in groups.node_groups(source).items():
        target = work / f"only-{group}.onnx"
        build(scheme, source, target, ctx.calibration, calibration_cfg, only_nodes=nodes)
        out = ctx.predict(target)
        got = ctx.score(out)
        rows.append(
            {
                "group": group,
                "nodes": len(nodes),
                "accuracy": round(got, 4),
                "loss": round(fp32_score - got, 4),
                "agreement_with_fp32": round(ctx.agree(out, fp32), 4),
            }
        )
        target.unlink()
    return sorted(rows, key=lambda r: (-r["loss"], r["agreement_with_fp32"]))
