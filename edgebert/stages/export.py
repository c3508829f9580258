"""Export stage: Hugging Face folder -> ONNX with dynamic batch and sequence axes (optimum-onnx), plus a
transformer-fused copy (onnxruntime.transformers.optimizer), each verified against PyTorch.

Verification runs real sentences through PyTorch and ONNX Runtime and compares logits; a difference above
`export.atol` is an ExportError, never a warning. The fused-operator counts (Attention, SkipLayerNormalization,
Gelu, EmbedLayerNormalization…) are returned for the manifest, so a library upgrade that silently stops fusing
shows up as a number. It does not quantize.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np

from edgebert.errors import ExportError
from edgebert.runtime import make_session

FUSED_OPS = (
    "Attention",
    "MultiHeadAttention",
    "QAttention",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "LayerNormalization",
    "Gelu",
    "FastGelu",
    "BiasGelu",
    "DynamicQuantizeMatMul",
    "MatMulInteger",
)


def export_onnx(model_dir: Path, out: Path, opset: int, trust_remote_code: bool = False) -> Path:
    """Export with optimum-onnx into `out`; returns the path of model.onnx."""
    from optimum.exporters.onnx import main_export

    tmp = out / "_optimum"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main_export(
                str(model_dir),
                output=tmp,
                task="text-classification",
                opset=opset,
                do_validation=False,
                library_name="transformers",
                trust_remote_code=trust_remote_code,
            )
    except Exception as e:  # noqa: BLE001 - optimum raises many types; the user needs the first line
        raise ExportError(f"ONNX export of {model_dir} failed: {str(e).splitlines()[0]}") from None
    target = out / "model.onnx"
    shutil.move(tmp / "model.onnx", target)
    shutil.rmtree(tmp)
    return target


def fuse(model: Path, target: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ORT's offline transformer fusions (python fusions only, opt_level 0, so the file stays portable)."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(model), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0
    )
    fused.save_model_to_file(str(target))
    return {op: n for op, n in fused.get_fused_operator_statistics().items() if n}


def fusions_at_load(model: Path, scratch: Path) -> dict[str, int]:
    """Fused-operator counts in the graph ONNX Runtime actually runs on CPU (after its load-time optimiser)."""
    import onnx

    optimized = scratch / f".{model.stem}.ort-optimized.onnx"
    make_session(model, threads=1, optimized_path=str(optimized))
    graph = onnx.load(str(optimized), load_external_data=False).graph
    optimized.unlink()
    for extra in scratch.glob(f".{model.stem}.ort-optimized.onnx*"):
        extra.unlink()
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in FUSED_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


Reference = list[tuple[dict[str, np.ndarray], np.ndarray]]


def pytorch_reference(model_dir: Path, texts: list[str], max_length: int) -> tuple[Reference, object]:
    """(inputs, PyTorch logits) for one padded batch of `texts` and for batch 1, plus the model's config."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True).eval()
    reference = []
    for chunk in (texts, texts[:1]):
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        feeds = {k: v.astype(np.int64) for k, v in enc.items()}
        with torch.no_grad():
            reference.append((feeds, model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()))
    return reference, model.config


def verify(onnx_path: Path, reference: Reference, atol: float) -> float:
    """Max |logit difference| between ORT and the PyTorch reference; an ExportError above `atol`."""
    session = make_session(onnx_path)
    names = {i.name for i in session.get_inputs()}
    worst = 0.0
    for feeds, expected in reference:
        got = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        worst = max(worst, float(np.abs(expected - got).max()))
    if worst > atol:
        raise ExportError(
            f"{onnx_path.name} does not match PyTorch: max logit difference {worst:.2e} > export.atol {atol:.0e}. "
            "Try another export.opset, or raise export.atol only if you accept that error."
        )
    return worst


# The mobile form's GELU is the tanh approximation: measured on the SST-2 student, logits moved by at most
# 2.3e-3 and no prediction of 300 dev sentences changed. Ten times that is the bound.
MOBILE_ATOL = 0.02


def export_mobile(model_dir: Path, plain: Path, out: Path, texts: list[str], seq: int) -> dict:
    """The mobile form of `plain` (fixed [1, seq], NNAPI/CoreML operators), verified against `plain` on `texts`."""
    from edgebert.mobile_graph import mobile_form
    from edgebert.runtime import TextClassifier

    target = out / "model.mobile.onnx"
    info = mobile_form(plain, target, seq)
    tokenizer = model_dir / "tokenizer.json"
    ref = TextClassifier.from_files(plain, tokenizer, [], seq).logits(texts, 1)
    got = TextClassifier.from_files(target, tokenizer, [], seq).logits(texts, 1)
    worst = float(np.abs(ref - got).max())
    if worst > MOBILE_ATOL:
        raise ExportError(
            f"the mobile form differs from the plain export by {worst:.2e} in logits (> {MOBILE_ATOL}): "
            "set export.mobile: false and report the model family"
        )
    return {**info, "bytes": target.stat().st_size, "max_abs_diff_vs_plain": worst}


def run_export(
    model_dir: Path,
    out: Path,
    texts: list[str],
    max_length: int,
    opset: int,
    atol: float,
    trust_remote_code: bool = False,
    mobile_seq: int | None = None,
) -> dict:
    """model.onnx (plain) and model.fused.onnx, both verified; returns sizes, differences and fusion counts."""
    reference, config = pytorch_reference(model_dir, texts, max_length)
    plain = export_onnx(model_dir, out, opset, trust_remote_code)
    fused_path = out / "model.fused.onnx"
    # pruned heads leave layers with different head counts: let the fusion read them from each graph node
    heads, hidden = (0, 0) if config.pruned_heads else (config.num_attention_heads, config.hidden_size)
    offline = fuse(plain, fused_path, heads, hidden)
    return {
        "opset": opset,
        "plain": {
            "bytes": plain.stat().st_size,
            "max_abs_diff": verify(plain, reference, atol),
            "fusions_at_load": fusions_at_load(plain, out),
        },
        "fused": {
            "bytes": fused_path.stat().st_size,
            "max_abs_diff": verify(fused_path, reference, atol),
            "fusions_offline": offline,
            "fusions_at_load": fusions_at_load(fused_path, out),
        },
        **({"mobile": export_mobile(model_dir, plain, out, texts, mobile_seq)} if mobile_seq else {}),
    }
