"""The peers of classifiers and taggers: the teacher exported with Optimum (`main_export`, its default opset) and
quantized by `ORTQuantizer` to dynamic INT8 with the preset for this CPU, per-tensor (the configuration in
Optimum's quantization guide). `optimum-o2-int8` runs `ORTOptimizer` at level O2 (ORT's transformer fusions:
Attention, SkipLayerNormalization, EmbedLayerNormalization, BiasGelu) before the quantizer, as Optimum's
optimization guide does; the quantizer then makes QAttention nodes. Scored through edgebert's runtime, which runs
the same ONNX Runtime session an Optimum `ORTModelFor…` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgebert.tasks import Task

FILE = "model_quantized.onnx"  # what ORTQuantizer writes


def build(name: str, task: Task, teacher_dir: Path, out: Path, preset: str, options, optimize: str | None = None):
    """`optimize`: an ORTOptimizer level (O1-O4) applied before quantizing; None quantizes the export as it is."""
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    from edgebert.peers import Peer

    export = out / "fp32"
    main_export(
        str(teacher_dir),
        output=export,
        task=task.OPTIMUM_TASK,
        do_validation=False,
        trust_remote_code=options.trust_remote_code,
    )
    config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=False)
    how = f"Optimum {task.OPTIMUM_TASK} export"
    if optimize:
        model = _optimized_int8(export, out, optimize, config)
        how += f", ORTOptimizer {optimize}, dynamic INT8 with ORTQuantizer's {preset} preset settings, per-tensor"
    else:
        ORTQuantizer.from_pretrained(export).quantize(config, save_dir=out)
        model = out / FILE
        how += f", ORTQuantizer dynamic INT8, {preset} preset, per-tensor"
    return Peer(name, model, export / "tokenizer.json", preset, how)


def _optimized_int8(export: Path, out: Path, level: str, config) -> Path:
    """ORTOptimizer at `level`, then dynamic INT8 with the preset's settings. ORTQuantizer itself cannot quantize a
    fused graph: ONNX shape inference gives no type to the contrib operators' outputs, and ORTQuantizer does not
    pass ORT's `DefaultTensorType` option (optimum PR 1959, closed unmerged), so ORT's quantize_dynamic is called
    with exactly the preset's settings and that option, the workaround its users apply."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig

    optimized = out / "optimized"
    ORTOptimizer.from_pretrained(export).optimize(getattr(AutoOptimizationConfig, level)(), optimized)
    target = out / "model_optimized_quantized.onnx"
    quantize_dynamic(
        optimized / "model_optimized.onnx",
        target,
        op_types_to_quantize=[getattr(op, "value", op) for op in config.operators_to_quantize],
        per_channel=config.per_channel,
        reduce_range=config.reduce_range,
        weight_type=config.weights_dtype,  # already onnxruntime.quantization.QuantType
        nodes_to_exclude=config.nodes_to_exclude,
        extra_options={
            "WeightSymmetric": config.weights_symmetric,
            "ActivationSymmetric": config.activations_symmetric,
            "DefaultTensorType": onnx.TensorProto.FLOAT,
        },
    )
    return target


def predictor(peer, task: Task, data, max_length: int):
    return task.onnx_predictor(peer.model, peer.tokenizer, data, max_length)
