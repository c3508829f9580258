"""Export stage: Hugging Face folder -> ONNX with dynamic batch and sequence axes (optimum-onnx), plus a
transformer-fused copy (onnxruntime.transformers.optimizer), each verified against PyTorch.

Where the task's head reads only [CLS] (classifiers), both graphs then compute the last layer's per-token part for
that row alone (`export.first_token_only`, edgebert.graph.first_token), before verification.
Verification runs real sentences through PyTorch and ONNX Runtime and compares every output the task names
(logits for classifiers); a difference above
`export.atol` is an ExportError, never a warning. The fused-operator counts (Attention, SkipLayerNormalization,
Gelu, EmbedLayerNormalization…) are returned for the manifest, so a library upgrade that silently stops fusing
shows up as a number. It does not quantize.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgebert.errors import ExportError
from edgebert.graph.first_token import keep_first_token
from edgebert.recipe import ExportConfig
from edgebert.runtime import make_session

if TYPE_CHECKING:
    from edgebert.tasks import Task

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


def export_onnx(
    model_dir: Path, out: Path, opset: int, task: Task | str = "text-classification", trust_remote_code=False
) -> Path:
    """Export with optimum-onnx into `out`; returns model.onnx. `task` is the task module (its OPTIMUM_TASK, and
    OPTIMUM_LIBRARY when the task exports through another library's layout: a sentence-transformers folder is
    prepared by the task's `export_folder`), or an optimum task name."""
    from optimum.exporters.onnx import main_export

    optimum_task = task if isinstance(task, str) else task.OPTIMUM_TASK
    library = "transformers" if isinstance(task, str) else getattr(task, "OPTIMUM_LIBRARY", "transformers")
    tmp = out / "_optimum"
    source = Path(model_dir)
    if library != "transformers":
        source = task.export_folder(source, out / "_source")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main_export(
                str(source),
                output=tmp,
                task=optimum_task,
                opset=opset,
                do_validation=False,
                library_name=library,
                trust_remote_code=trust_remote_code,
            )
    except Exception as e:  # noqa: BLE001 - optimum raises many types; the user needs the first line
        raise ExportError(f"ONNX export of {model_dir} failed: {str(e).splitlines()[0]}") from None
    target = out / "model.onnx"
    shutil.move(tmp / "model.onnx", target)
    shutil.rmtree(tmp)
    if source != Path(model_dir):
        shutil.rmtree(source)
    return target


def fuse(model: Path, target: Path, num_heads: int, hidden_size: int, embeddings: bool = True) -> dict[str, int]:
    """ORT's offline transformer fusions (python fusions only, opt_level 0, so the file stays portable);
    `embeddings=False` leaves the embeddings' Gathers and LayerNormalization unfused (4-bit embeddings need the
    word-embedding Gather, which EmbedLayerNormalization would hold)."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = embeddings
    fused = optimizer.optimize_model(
        str(model),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=0,
        optimization_options=options,
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


Reference = list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]


def pytorch_reference(task: Task, model_dir: Path, texts: list[str], max_length: int, options):
    """(inputs, the task's PyTorch outputs by name) for one padded batch of `texts` and for batch 1, plus the
    model's config."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = task.load_model(model_dir, options).eval()
    reference = []
    for chunk in (texts, texts[:1]):
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        feeds = {k: v.astype(np.int64) for k, v in enc.items()}
        reference.append((feeds, task.pytorch_outputs(model, feeds)))
    return reference, model.config


def verify(onnx_path: Path, reference: Reference, atol: float) -> float:
    """Max |difference| between ORT and the PyTorch reference over every output the task names; an ExportError
    naming the output above `atol`."""
    session = make_session(onnx_path)
    names = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    worst, where = 0.0, ""
    for feeds, expected in reference:
        got = dict(zip(outputs, session.run(None, {k: v for k, v in feeds.items() if k in names}), strict=True))
        for name, value in expected.items():
            if name not in got:
                raise ExportError(f"{onnx_path.name} has no output {name!r} (it has {', '.join(outputs)})")
            diff = float(np.abs(value - got[name]).max())
            if diff > worst:
                worst, where = diff, name
    if worst > atol:
        raise ExportError(
            f"{onnx_path.name} does not match PyTorch: max difference in {where!r} {worst:.2e} > export.atol "
            f"{atol:.0e}. Try another export.opset, or raise export.atol only if you accept that error."
        )
    return worst


def _verify_rewritten(onnx_path: Path, reference: Reference, atol: float, first_token_nodes: int | None) -> float:
    """verify(), whose error also names export.first_token_only when that rewrite touched the graph."""
    try:
        return verify(onnx_path, reference, atol)
    except ExportError as e:
        if not first_token_nodes:
            raise
        raise ExportError(
            f"{e} It computes its last layer for [CLS] alone: set export.first_token_only: false and report the "
            "model family."
        ) from None


# The mobile form's GELU is the tanh approximation: measured on the SST-2 student, logits moved by at most
# 2.3e-3 and no prediction of 300 dev sentences changed. Ten times that is the bound.
MOBILE_ATOL = 0.02


def export_mobile(task: Task, model_dir: Path, plain: Path, out: Path, texts: list[str], seq: int) -> dict:
    """The mobile form of `plain` (fixed [1, seq], NNAPI/CoreML operators), verified against `plain` on `texts`."""
    from edgebert.graph.mobile_graph import mobile_form

    target = out / "model.mobile.onnx"
    info = mobile_form(plain, target, seq)
    tokenizer = model_dir / "tokenizer.json"
    ref = task.onnx_predictor(plain, tokenizer, None, seq).outputs(texts, 1)
    got = task.onnx_predictor(target, tokenizer, None, seq).outputs(texts, 1)
    worst = max(float(np.abs(ref[name] - got[name]).max()) for name in ref)
    if worst > MOBILE_ATOL:
        raise ExportError(
            f"the mobile form differs from the plain export by {worst:.2e} in outputs (> {MOBILE_ATOL}): "
            "set export.mobile: false and report the model family"
        )
    return {**info, "bytes": target.stat().st_size, "max_abs_diff_vs_plain": worst}


@dataclass(frozen=True)
class ExportJob:
    """One model to export: its Hugging Face folder, the sentences to verify on, and whether to build the mobile
    form (its sequence length) beside it."""

    model_dir: Path
    texts: list[str]
    max_length: int
    mobile_seq: int | None = None
    fuse_embeddings: bool = True  # False when quantize wants 4-bit embeddings


def run_export(task: Task, job: ExportJob, cfg: ExportConfig, out: Path, options) -> dict:
    """model.onnx (plain) and model.fused.onnx, both verified; returns sizes, differences, fusion counts and how
    many nodes of each graph compute only the first token."""
    reference, config = pytorch_reference(task, job.model_dir, job.texts, job.max_length, options)
    plain = export_onnx(job.model_dir, out, cfg.opset, task, options.trust_remote_code)
    fused_path = out / "model.fused.onnx"
    # pruned heads leave layers with different head counts: let the fusion read them from each graph node
    heads, hidden = (0, 0) if config.pruned_heads else (config.num_attention_heads, config.hidden_size)
    offline = fuse(plain, fused_path, heads, hidden, job.fuse_embeddings)
    first_token = {p.name: keep_first_token(p, p) for p in (plain, fused_path)} if cfg.first_token_only else {}
    mobile = job.mobile_seq
    return {
        "opset": cfg.opset,
        "first_token_only": first_token,
        "plain": {
            "bytes": plain.stat().st_size,
            "max_abs_diff": _verify_rewritten(plain, reference, cfg.atol, first_token.get(plain.name)),
            "fusions_at_load": fusions_at_load(plain, out),
        },
        "fused": {
            "bytes": fused_path.stat().st_size,
            "max_abs_diff": _verify_rewritten(fused_path, reference, cfg.atol, first_token.get(fused_path.name)),
            "fusions_offline": offline,
            "fusions_at_load": fusions_at_load(fused_path, out),
        },
        **({"mobile": export_mobile(task, job.model_dir, plain, out, job.texts, mobile)} if mobile else {}),
    }
