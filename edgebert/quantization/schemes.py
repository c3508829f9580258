"""Build one quantized model from an FP32 ONNX file and a QuantScheme: dynamic INT8, static INT8 (QDQ or
QOperator, calibrated), FP16 for GPUs, or an FP32 copy, with the word-embedding table in INT8, FP32 or 4-bit
(`embeddings: int4`). Each returns a short description of what it built. It does not evaluate or time the result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from edgebert.errors import RecipeError, StageError
from edgebert.quantization import groups
from edgebert.quantization.calibration import Feeds, reader
from edgebert.recipe import CalibrationConfig, QuantScheme

T = TypeVar("T")


def build(
    scheme: QuantScheme,
    source: Path,
    target: Path,
    calibration: list[Feeds] | None = None,
    calibration_cfg: CalibrationConfig | None = None,
    only_nodes: list[str] | None = None,
    piece_counts: np.ndarray | None = None,
) -> dict:
    """Quantize `source` into `target`; `only_nodes` quantizes just those nodes (the sensitivity analysis).
    `piece_counts` (token id -> occurrences in the train split) places the rows of `embeddings: mixed`."""
    exclude = groups.resolve(source, scheme.keep_fp32)
    int8_source, int4 = source, {}
    if scheme.mode in ("dynamic", "static") and scheme.embeddings == "int4":
        word = word_embedding_gather(source)
        if word not in exclude and (only_nodes is None or word in only_nodes):
            int8_source = target.with_name(f".{target.stem}.int4-embeddings.onnx")
            int4 = int4_gather(source, int8_source, word, scheme.embedding_block)
    try:
        info = _build(scheme, int8_source, target, exclude, only_nodes, calibration, calibration_cfg)
    finally:
        if int8_source != source:
            int8_source.unlink(missing_ok=True)
    if scheme.mode in ("dynamic", "static") and only_nodes is None:
        _check_something_quantized(target, source)
    if scheme.layer_norm == "decomposed":
        info["layer_norms_decomposed"] = _decompose(target)
    if scheme.mode in ("dynamic", "static") and scheme.embeddings == "mixed" and only_nodes is None:
        info.update(_mixed(scheme, target, piece_counts))
    return {"mode": scheme.mode, **info, **int4, "kept_fp32": scheme.keep_fp32, "fp32_nodes": len(exclude)}


def _decompose(target: Path) -> int:
    from edgebert.graph.layer_norm import decompose_layer_norms

    return _rewrite(target, "decomposed", decompose_layer_norms)


def _mixed(scheme: QuantScheme, target: Path, counts: np.ndarray | None) -> dict:
    from edgebert.quantization.mixed_table import pack_rare_rows

    if counts is None:
        raise ValueError("embeddings mixed needs the train split's word-piece counts")
    coverage, block = scheme.embedding_coverage, scheme.embedding_block
    return _rewrite(target, "mixed", lambda src, dst: pack_rare_rows(src, dst, counts, coverage, block))


def _rewrite(target: Path, step: str, rewrite: Callable[[Path, Path], T]) -> T:
    """`rewrite(target, scratch)`, then the scratch file replaces `target`; no scratch file is left behind."""
    scratch = target.with_name(f".{target.stem}.{step}.onnx")
    try:
        result = rewrite(target, scratch)
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)
    return result


def _build(scheme, source, target, exclude, only_nodes, calibration, calibration_cfg) -> dict:
    if scheme.mode == "none":
        shutil.copyfile(source, target)
        info = {"weights": "fp32"}
    elif scheme.mode == "fp16":
        require_gpu("quantize mode fp16")
        info = to_fp16(source, target)
    elif scheme.mode == "dynamic":
        info = _dynamic(scheme, source, target, exclude, only_nodes)
    else:
        if not calibration:
            raise StageError("static quantization needs calibration sentences (quantize.calibration)")
        info = _static(scheme, source, target, exclude, only_nodes, calibration, calibration_cfg or CalibrationConfig())
    return info


def word_embedding_gather(model: Path) -> str:
    """The name of the Gather that looks input_ids up in the word-embedding table."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0] in weights and node.input[1] == "input_ids":
            return node.name
    folded = any(n.op_type == "EmbedLayerNormalization" for n in graph.node)
    raise StageError(
        f"quantize embeddings int4: {model.name} has no word-embedding Gather to quantize"
        + (
            " (its EmbedLayerNormalization holds the table): re-run the export stage, which keeps the embeddings "
            "unfused when quantize asks for int4 (edgebert compress --from export)"
            if folded
            else "; set embeddings to true (INT8) for this model"
        )
    )


def int4_gather(source: Path, target: Path, node: str, block: int) -> dict:
    """`node` (a Gather from a weight table) as GatherBlockQuantized with 4-bit weights in blocks of `block` values
    along the hidden axis, each block with its scale and zero point; everything else as it was. Measured on the
    MiniLM embedding student (STS-B dev Spearman, FP32 84.25): INT8 table 84.22, 4-bit in blocks of 32 84.20, in
    blocks of 128 84.08.
    ONNX Runtime's weight-only quantizer does it; it raises the file's opset to 21 for the 4-bit type, which would
    change the meaning of the graph's other operators (ReduceL2's axes, for one), so the opset is set back."""
    import logging

    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantFormat

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    root.handlers[:] = handlers  # its import sets up root logging at INFO: undone
    root.setLevel(level)
    # its warnings are about the opset it raises, which int4_gather sets back
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.ERROR)

    model = onnx.load(str(source))
    opsets = {o.domain: o.version for o in model.opset_import}
    others = [n.name for n in model.graph.node if n.op_type == "Gather" and n.name != node]
    config = DefaultWeightOnlyQuantConfig(
        block_size=block,
        is_symmetric=False,
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=("Gather",),
        quant_axes=(("Gather", 1),),
    )
    try:
        quantizer = MatMulNBitsQuantizer(
            model,
            block_size=block,
            is_symmetric=False,
            nodes_to_exclude=others,
            algo_config=config,
            op_types_to_quantize=("Gather",),
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero row (padding) has scale 0, handled after
            quantizer.process()
    except Exception as e:  # noqa: BLE001 - the quantizer raises bare Exceptions and asserts
        raise StageError(f"4-bit embedding quantization of {source.name} failed: {str(e).splitlines()[0]}") from None
    quantized = quantizer.model.model
    if not any(n.op_type == "GatherBlockQuantized" for n in quantized.graph.node):
        raise StageError(f"4-bit embedding quantization of {source.name} left {node} as it was")
    for opset in quantized.opset_import:
        opset.version = opsets.get(opset.domain, opset.version)
    onnx.save(quantized, str(target))
    return {"embeddings": f"int4 (blocks of {block})"}


def _ops(scheme: QuantScheme) -> list[str]:
    # Gemm: the pooler and classifier, and every dense layer of the mobile form (ORT folds MatMul+Add into Gemm)
    return ["MatMul", "Gemm"] + (["Gather"] if scheme.embeddings else [])


def _weights(scheme: QuantScheme) -> str:
    return "int8, 7-bit range" if scheme.reduce_range else "int8"


def _extra(**options) -> dict:
    import onnx

    # Type inference stops at contrib ops (Attention, SkipLayerNormalization) in a fused graph; ORT's documented
    # fix is to let unknown tensors default to float.
    return {"DefaultTensorType": onnx.TensorProto.FLOAT, **options}


def _dynamic(scheme: QuantScheme, source: Path, target: Path, exclude: list[str], only: list[str] | None) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(
            source,
            target,
            # None: ORT's whole dynamic list (embeddings included), as before the scheme had options
            op_types_to_quantize=None if scheme.embeddings else ["MatMul", "Attention", "Conv", "LSTM", "Transpose"],
            per_channel=scheme.per_channel,
            reduce_range=scheme.reduce_range,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            nodes_to_quantize=only,
            extra_options=_extra(),
        )
    except Exception as e:  # noqa: BLE001 - the quantizer raises bare Exceptions
        raise StageError(f"dynamic INT8 quantization of {source.name} failed: {str(e).splitlines()[0]}") from None
    return {"weights": _weights(scheme), "activations": "uint8 (per call)", "per_channel": scheme.per_channel}


def _static(
    scheme: QuantScheme,
    source: Path,
    target: Path,
    exclude: list[str],
    only: list[str] | None,
    calibration: list[Feeds],
    cfg: CalibrationConfig,
) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = scheme.calibrator or cfg.method
    activation = QuantType.QUInt8 if scheme.activations == "uint8" else QuantType.QInt8
    try:
        quantize_static(
            source,
            target,
            reader(calibration),
            quant_format=QuantFormat.QDQ if scheme.format == "qdq" else QuantFormat.QOperator,
            # MatMul, Gemm and Gather only: with Add and Mul quantized too, the SST-2 student fell from 93.9 to 84.0 on
            # 2,000 dev sentences (measured here). Only MatMuls by a weight: attention's activation x activation
            # products stay FP32, as dynamic INT8 leaves them. MatMulConstBOnly says the same, but ORT's QDQ
            # quantizer ignores it (only QOperator reads it), so those nodes are excluded by name as well.
            op_types_to_quantize=_ops(scheme),
            per_channel=scheme.per_channel,
            reduce_range=scheme.reduce_range,
            activation_type=activation,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude + groups.activation_matmuls(source),
            nodes_to_quantize=only,
            calibrate_method={
                "minmax": CalibrationMethod.MinMax,
                "entropy": CalibrationMethod.Entropy,
                "percentile": CalibrationMethod.Percentile,
            }[method],
            extra_options=_extra(
                MatMulConstBOnly=True, ActivationSymmetric=scheme.symmetric, CalibPercentile=cfg.percentile
            ),
        )
    except Exception as e:  # noqa: BLE001
        raise StageError(f"static INT8 quantization of {source.name} failed: {str(e).splitlines()[0]}") from None
    return {
        "weights": _weights(scheme),
        "activations": f"{scheme.activations} ({'symmetric' if scheme.symmetric else 'asymmetric'}, static)",
        "per_channel": scheme.per_channel,
        "format": scheme.format,
        "calibrator": method,
        "calibration_sentences": sum(len(next(iter(f.values()))) for f in calibration),
    }


def to_fp16(source: Path, target: Path) -> dict:
    """FP16 weights and compute, float32 inputs and outputs (ORT's transformer float16 conversion)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(source)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(target))
    return {"weights": "fp16", "activations": "fp16", "io": "float32"}


def require_gpu(what: str) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RecipeError(
            f"{what} is for GPU targets, and this onnxruntime has no CUDA provider "
            f"({', '.join(ort.get_available_providers())}): run it where onnxruntime-gpu and a GPU are installed, "
            "or choose quantize.mode dynamic, static or auto for a CPU target"
        )


def _check_something_quantized(target: Path, source: Path) -> None:
    import onnx

    ops = {n.op_type for n in onnx.load(str(target), load_external_data=False).graph.node}
    if not ops & {"DequantizeLinear", "DynamicQuantizeLinear", "QLinearMatMul", "MatMulInteger", "QAttention"}:
        raise StageError(
            f"nothing in {source.name} could be quantized: ONNX Runtime quantizes MatMul, Gather and Attention "
            f"nodes and this graph has {', '.join(sorted({n.op_type for n in onnx.load(str(source)).graph.node}))}"
        )
