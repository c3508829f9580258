"""Quantize stage: ONNX FP32 -> the model that ships, by a fixed scheme (dynamic or static INT8, FP16, none)
or by `auto`, which builds the target's candidates and keeps the fastest within the accuracy bound.

`quantize.source` picks which export to quantize: the plain graph (ORT fuses part of it at load) or the
offline-fused one, whose attention becomes QAttention (faster for small students on short sentences; measured in
docs/decisions.md).
Every shipped model, and every static QDQ candidate, gets ONNX Runtime's mobile usability analysis.
The stage does not evaluate the shipped model on the test split (evaluate does) or time it for the report
(benchmark does); `auto` scores candidates on the eval split and times them against each other only to choose.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgebert.data import Dataset
from edgebert.graph.mobile import usability
from edgebert.progress import Reporter
from edgebert.quantization.auto import AutoContext
from edgebert.quantization.calibration import calibration_feeds
from edgebert.quantization.candidates import candidates
from edgebert.quantization.mixed_table import piece_counts
from edgebert.quantization.schemes import build, require_gpu
from edgebert.recipe import BenchmarkConfig, QuantizeConfig, QuantScheme, SizeGate
from edgebert.runtime.session import fixed_shape, make_session
from edgebert.runtime.tokenizer import TextEncoder
from edgebert.stages.export import fusions_at_load

if TYPE_CHECKING:
    from edgebert.tasks import Task

PAIR_ROUNDS, PAIR_CALLS = 30, 10  # per candidate pair in `auto`: A B / B A rounds of 10 calls each
REAL_ROUNDS, REAL_SENTENCES = 10, 64  # auto's real-sentence workload: rounds of 64 eval sentences at batch 1


@dataclass(frozen=True)
class QuantizeInputs:
    """What static calibration and `auto` read (dynamic, fp16 and none need none): the task and its data (train
    sentences calibrate, the eval split scores), the model's tokenizer, the teacher's ONNX export (auto's bound),
    and how `auto` times candidates (the benchmark section, at `threads`)."""

    task: Task
    data: Dataset
    tokenizer: Path
    teacher_onnx: Path
    max_length: int
    max_drop: float
    timing: BenchmarkConfig
    threads: int
    reporter: Reporter = field(default_factory=Reporter)
    teacher_tokenizer: Path | None = None  # when the student's vocabulary was trimmed; None: `tokenizer`
    size: SizeGate | None = None  # gates.size: `auto` keeps no candidate over its limit

    def encoder(self, model: Path, tokenizer: Path | None = None, length: int | None = None) -> TextEncoder:
        names = [i.name for i in make_session(model, threads=1).get_inputs()]
        return TextEncoder.from_file(tokenizer or self.tokenizer, length or self.max_length, names)


def run_quantize(
    export_dir: Path,
    out: Path,
    cfg: QuantizeConfig,
    inputs: QuantizeInputs | None = None,
    scheme: QuantScheme | None = None,
) -> dict:
    """Quantize the export in `export_dir` into `out/model.onnx`; `scheme` overrides the recipe's (auto's winner)."""
    source = export_dir / ("model.fused.onnx" if cfg.source == "fused" else "model.onnx")
    target = out / "model.onnx"
    scheme = scheme or (None if cfg.mode == "auto" else cfg.scheme())
    wanted = [scheme] if scheme else candidates(cfg)
    if any(s.mode == "fp16" for s in wanted):
        require_gpu("quantize mode fp16" if scheme else "an FP16 candidate of quantize.mode auto")
    calibration = None
    if any(s.mode == "static" for s in wanted):
        if inputs is None:
            raise ValueError("static quantization needs QuantizeInputs")
        calibration = calibration_feeds(_padded_encoder(inputs), inputs.data.train.examples, cfg.calibration)
    counts = None
    if any(s.embeddings == "mixed" for s in wanted):
        if inputs is None:
            raise ValueError("embeddings mixed needs QuantizeInputs")
        counts = piece_counts(inputs.tokenizer, inputs.data.train.corpus)
    summary: dict = {}
    if scheme is not None:
        summary.update(build(scheme, source, target, calibration, cfg.calibration, piece_counts=counts))
        summary["scheme"] = scheme.model_dump(mode="json")
    else:
        from edgebert.quantization.auto import run_auto

        ctx = _auto_context(inputs, calibration, cfg.auto.eval_samples, cfg.auto.workload, counts)
        result = run_auto(cfg, source, out / "candidates", ctx)
        result["teacher_accuracy"] = round(ctx.bound + inputs.max_drop, 6)
        result["eval_sentences"] = ctx.n
        result["metric"] = inputs.task.PRIMARY_METRIC
        winner = result.pop("_winner")
        shutil.copyfile(winner.path, target)
        for row in result["candidates"]:
            if (
                row["scheme"].get("mode") == "static"
                and row["error"] is None
                and row["scheme"].get("format", "qdq") == "qdq"
            ):
                row["mobile"] = usability(Path(row["path"]))
            row["path"] = str(Path(row["path"]).relative_to(out))
        shutil.rmtree(out / "candidates")  # the table keeps their figures; the files are 15-60 MB each
        summary.update(winner.built)
        summary["scheme"] = winner.scheme.model_dump(mode="json")
        summary["auto"] = result
    summary["mobile"] = usability(target)
    fusions = fusions_at_load(target, out)
    return {**summary, "source": cfg.source, "bytes": target.stat().st_size, "fusions_at_load": fusions}


def _padded_encoder(inputs: QuantizeInputs):
    encoder = inputs.encoder(inputs.teacher_onnx)
    encoder.pad_to(inputs.max_length)
    return encoder.feeds


@dataclass
class _Auto(AutoContext):
    n: int = 0  # eval examples scored


def _auto_context(
    inputs: QuantizeInputs | None, calibration, samples: int | None, workload: str, counts: np.ndarray | None
) -> _Auto:
    from edgebert.timing.bench import fixed_input, onnx_runner, paired_rounds, ratio_with_interval
    from edgebert.timing.versus import sweep

    if inputs is None:
        raise ValueError("quantize mode auto needs QuantizeInputs")
    task, data, timing = inputs.task, inputs.data, inputs.timing
    split = data.eval.head(samples)

    def predict(model: Path, tokenizer: Path = inputs.tokenizer) -> dict:
        return task.onnx_outputs(task.onnx_predictor(model, tokenizer, data, inputs.max_length, inputs.threads), split)

    def time_all(models: dict[str, Path]) -> dict[str, dict]:
        # Pairwise, like `edgebert check`: each candidate against one anchor (dynamic INT8 when it is a
        # candidate), with only those two sessions alive. Timing all seven in one process read the same
        # candidates 10-26% apart from one run to the next: sessions loaded beside each other slow each other
        # unevenly (see README, "Pruning, before and after").
        encode = inputs.encoder(inputs.teacher_onnx, length=max(inputs.max_length, timing.seq)).feeds
        feeds = fixed_input(encode, data.eval.examples, timing.batch, timing.seq)
        real = [encode([t]) for t in data.eval.examples[:REAL_SENTENCES]]
        anchor = "dynamic" if "dynamic" in models else next(iter(models))
        inputs.reporter.info(
            f"  timing {len(models) - 1} candidates against {anchor} at {inputs.threads} thread(s), workload {workload}"
        )
        anchor_p50, ratios, on_real = [], {}, {}
        settle = min(0.05, timing.settle_s)
        for name in inputs.reporter.track([n for n in models if n != anchor], "timing candidates"):
            runners = {n: onnx_runner(make_session(models[n], inputs.threads)) for n in (anchor, name)}
            if workload != "real":
                rounds = paired_rounds(runners, feeds, timing.warmup, PAIR_ROUNDS, PAIR_CALLS, settle)
                ratios[name] = ratio_with_interval(rounds[name], rounds[anchor], 0.95)
                anchor_p50.append(float(np.percentile(np.concatenate(rounds[anchor]), 50)))
            if workload != "fixed":
                sweeps = {n: functools.partial(sweep, r, real) for n, r in runners.items()}
                rounds = paired_rounds(sweeps, {}, 1, REAL_ROUNDS, 1, settle)
                on_real[name] = ratio_with_interval(rounds[name], rounds[anchor], 0.95)
        base = float(np.median(anchor_p50)) if anchor_p50 else None
        one = {"ratio": 1.0, "low": 1.0, "high": 1.0}
        out = {anchor: {"p50_ms": round(base, 3) if base else None, "vs": anchor, "ratio": one, "rank": 1.0}}
        if on_real:
            out[anchor]["real_ratio"] = one
        for name in [n for n in models if n in ratios or n in on_real]:
            used = [r["ratio"] for r in (ratios.get(name), on_real.get(name)) if r is not None]
            rank = float(np.exp(np.mean(np.log(used))))
            fixed = ratios.get(name)
            out[name] = {
                "p50_ms": round(base * fixed["ratio"], 3) if fixed and base else None,
                "vs": anchor,
                "ratio": fixed,
                "rank": round(rank, 4),
            } | ({"real_ratio": on_real[name]} if name in on_real else {})
        return out

    def score(outputs: dict) -> float:
        return task.score(outputs, split, data)

    teacher = score(predict(inputs.teacher_onnx, inputs.teacher_tokenizer or inputs.tokenizer))
    inputs.reporter.info(
        f"  teacher on the eval split: {task.PRIMARY_METRIC} {teacher:.4f}; "
        f"candidates must reach {teacher - inputs.max_drop:.4f}"
    )
    bound = teacher - inputs.max_drop
    max_mb = inputs.size.limit_mb(inputs.teacher_onnx.stat().st_size / 1e6) if inputs.size else None
    track = inputs.reporter.track

    def compare(a: dict, b: dict) -> dict:
        return task.paired_difference(a, b, split, data)

    return _Auto(
        predict, score, task.agreement, time_all, calibration, bound, track, max_mb, compare, counts, n=len(split)
    )


def run_mobile_quantize(export_dir: Path, out: Path, cfg: QuantizeConfig, inputs: QuantizeInputs) -> dict:
    """Static QDQ INT8 of the mobile form (per-tensor uint8: what NNAPI and CoreML take), with its usability."""
    source = export_dir / "model.mobile.onnx"
    session = make_session(source, threads=1)
    batch, seq = fixed_shape(session)
    names = [i.name for i in session.get_inputs()]
    fixed = TextEncoder.from_file(inputs.tokenizer, inputs.max_length, names, seq)
    calibration = calibration_feeds(
        fixed.feeds, inputs.data.train.examples, cfg.calibration.model_copy(update={"batch_size": batch})
    )
    scheme = QuantScheme(mode="static", calibrator=cfg.calibration.method)
    built = build(scheme, source, out / "model.onnx", calibration, cfg.calibration)
    built["ort"] = _ort_format(out, inputs)
    return {
        **built,
        "batch": batch,
        "seq": seq,
        "bytes": (out / "model.onnx").stat().st_size,
        "usability": usability(out / "model.onnx"),
    }


def _ort_format(out: Path, inputs: QuantizeInputs) -> dict:
    """model.mobile.ort beside the mobile model, checked to give the same logits on 64 eval sentences."""
    from edgebert.errors import StageError
    from edgebert.graph.ort_format import to_ort

    info = to_ort(out / "model.onnx", out)
    texts = inputs.data.eval.examples[:64]
    task = inputs.task
    # Compared at the basic optimisation level, where both run the same operators. At "all", ORT fuses the .onnx's
    # QDQ pairs into INT8 kernels, and the runtime-style .ort loaded by a full build may not replay the same
    # fusions: measured 5.0e-2 apart in logits on one SST-2 mobile model (no label changed), 0 at basic.
    onnx_out, ort_out = (
        task.onnx_predictor(out / name, inputs.tokenizer, inputs.data, 512, graph_optimization="basic").outputs(texts)
        for name in ("model.onnx", info["file"])
    )
    worst = max(float(np.abs(onnx_out[k] - ort_out[k]).max()) for k in onnx_out)
    if worst > 1e-4:
        raise StageError(f"{info['file']} differs from model.onnx by {worst:.1e} in outputs: an ORT conversion bug")
    return {**info, "max_abs_diff_vs_onnx": worst, "checked_sentences": len(texts)}
