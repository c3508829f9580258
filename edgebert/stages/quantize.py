"""Quantize stage: ONNX FP32 -> ONNX INT8 with ONNX Runtime's dynamic quantization.

Modes are looked up in QUANTIZERS, so static QDQ, FP16 and an automatic choice can be added as entries
without touching the pipeline. `quantize.source` picks which export to quantize: the plain graph (ORT fuses
it at load) or the offline-fused one; measured on SST-2 here, quantizing the plain export was faster and more
accurate (see docs/architecture.md), hence the default. It does not evaluate or time the result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from edgebert.errors import StageError
from edgebert.recipe import QuantizeConfig
from edgebert.stages.export import fusions_at_load


def quantize_dynamic_int8(source: Path, target: Path, cfg: QuantizeConfig) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Type inference stops at contrib ops (Attention, SkipLayerNormalization) in a fused graph; ORT's documented
    # fix is to let unknown tensors default to float.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    try:
        quantize_dynamic(source, target, per_channel=cfg.per_channel, weight_type=QuantType.QInt8, extra_options=extra)
    except Exception as e:  # noqa: BLE001 - the quantizer raises bare Exceptions
        raise StageError(f"dynamic INT8 quantization of {source.name} failed: {str(e).splitlines()[0]}") from None
    return {"mode": "dynamic", "weights": "int8", "activations": "uint8 (per batch)", "per_channel": cfg.per_channel}


def copy_fp32(source: Path, target: Path, cfg: QuantizeConfig) -> dict:
    shutil.copyfile(source, target)
    return {"mode": "none", "weights": "fp32"}


QUANTIZERS: dict[str, Callable[[Path, Path, QuantizeConfig], dict]] = {
    "dynamic": quantize_dynamic_int8,
    "none": copy_fp32,
}


def run_quantize(export_dir: Path, out: Path, cfg: QuantizeConfig) -> dict:
    source = export_dir / ("model.fused.onnx" if cfg.source == "fused" else "model.onnx")
    target = out / "model.onnx"
    summary = QUANTIZERS[cfg.mode](source, target, cfg)
    fusions = fusions_at_load(target, out)
    return {**summary, "source": cfg.source, "bytes": target.stat().st_size, "fusions_at_load": fusions}
