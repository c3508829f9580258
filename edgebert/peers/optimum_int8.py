"""The peer of classifiers and taggers: the teacher exported with Optimum (`main_export`, its default opset) and
quantized by `ORTQuantizer` to dynamic INT8 with the preset for this CPU, per-tensor (the configuration in
Optimum's quantization guide). Scored through edgebert's runtime, which runs the same ONNX Runtime session an
Optimum `ORTModelFor…` would.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

FILE = "model_quantized.onnx"  # what ORTQuantizer writes


def build(task: ModuleType, teacher_dir: Path, out: Path, preset: str, options):
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
    ORTQuantizer.from_pretrained(export).quantize(config, save_dir=out)
    how = f"Optimum {task.OPTIMUM_TASK} export, ORTQuantizer dynamic INT8, {preset} preset, per-tensor"
    return Peer("optimum-int8", out / FILE, export / "tokenizer.json", preset, how)


def predictor(peer, task: ModuleType, data, max_length: int):
    return task.onnx_predictor(peer.model, peer.tokenizer, data, max_length)
