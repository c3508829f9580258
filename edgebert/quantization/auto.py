"""`quantize.mode: auto`: build every candidate, score each on the eval split through ONNX Runtime, rescue
failing INT8 candidates by keeping their most sensitive node groups in FP32, time each against one anchor
candidate in paired rounds (on the fixed input, real sentences or both: quantize.auto.workload), and keep the
fastest one within the accuracy bound (the teacher's eval accuracy minus the allowed drop) and within the size
gate's file limit, when the recipe has one. When none is within both, the fastest within the accuracy bound is kept
(the size gate reports the file), and when none reaches the accuracy bound, the fastest of those the eval split
cannot tell from the most accurate (the paired 95% interval of their difference reaches zero; within the size limit
first); the caller reports the gates. "Accuracy" here is the task's primary metric, scored by the callbacks in
AutoContext.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgebert.errors import StageError
from edgebert.quantization.calibration import Feeds
from edgebert.quantization.candidates import candidates, name
from edgebert.quantization.schemes import build
from edgebert.quantization.sensitivity import group_sensitivity
from edgebert.recipe import QuantizeConfig, QuantScheme


@dataclass
class Trial:
    name: str
    scheme: QuantScheme
    path: Path
    built: dict = field(default_factory=dict)
    accuracy: float | None = None
    p50_ms: float | None = None
    mb: float | None = None
    error: str | None = None
    rescue_of: str | None = None
    timing: dict | None = None  # p50 as a ratio to the anchor candidate, with its 95% interval
    rank: float | None = None  # what `choose` orders by: the time ratio to the anchor on auto.workload
    # when none reaches the bound: accuracy minus the most accurate candidate's, with a paired 95% interval
    versus_best: dict | None = None

    def row(self, bound: float, max_mb: float | None = None) -> dict:
        d = asdict(self)
        d["scheme"] = self.scheme.model_dump(mode="json", exclude_defaults=True)
        d["path"] = str(self.path)
        d["within_bound"] = self.within(bound, max_mb)
        return d

    def within(self, bound: float, max_mb: float | None = None) -> bool:
        """At or above the accuracy bound, and no larger than `max_mb` (the size gate's limit) when given."""
        return self.accuracy is not None and self.accuracy >= bound and self.fits(max_mb)

    def fits(self, max_mb: float | None) -> bool:
        return max_mb is None or (self.mb is not None and self.mb <= max_mb)


# Why `choose` kept its winner, for the report: every bound met; the size limit missed (the size gate then reports
# the file: an FP32 file, the most accurate, is the furthest from a size limit); or the accuracy bound missed, and
# then the most accurate, or a faster one the eval split cannot tell from it (see `choose`).
RULES = (
    "fastest within the bounds",
    "fastest within the accuracy bound",
    "most accurate",
    "fastest within noise of the most accurate",
)


def usable(trials: list[Trial]) -> list[Trial]:
    """Trials built, scored and timed."""
    return [t for t in trials if t.error is None and t.accuracy is not None and (t.p50_ms or t.rank) is not None]


def most_accurate(trials: list[Trial]) -> Trial:
    return max(trials, key=lambda t: (t.accuracy, -(t.rank if t.rank is not None else t.p50_ms)))


def choose(trials: list[Trial], bound: float, max_mb: float | None = None) -> tuple[Trial, str]:
    """The fastest trial within `bound` (and `max_mb`); if none is, the fastest within `bound` whatever its size;
    else the fastest of the most accurate trial and those whose `versus_best` interval reaches zero (the eval
    split cannot tell them from it: on 500 TREC questions, one question apart kept an FP32 file four times the
    INT8 one's size), preferring those within `max_mb`. Returns the trial and which of RULES kept it."""
    ready = usable(trials)
    if not ready:
        raise StageError(
            "no quantization candidate could be built: " + "; ".join(f"{t.name}: {t.error}" for t in trials)
        )
    fastest = lambda ts: min(ts, key=lambda t: (t.rank if t.rank is not None else t.p50_ms, -t.accuracy))  # noqa: E731
    within = [t for t in ready if t.within(bound, max_mb)]
    if within:
        return fastest(within), RULES[0]
    accurate = [t for t in ready if t.within(bound)]
    if accurate:
        return fastest(accurate), RULES[1]
    best = most_accurate(ready)
    ties = [t for t in ready if t is best or (t.versus_best is not None and t.versus_best["high"] >= 0)]
    small = [t for t in ties if t.fits(max_mb)]
    pick = fastest(small or ties)
    return pick, RULES[2] if pick is best else RULES[3]


@dataclass
class AutoContext:
    """What auto needs from the pipeline: scoring and timing through ONNX Runtime, and calibration data."""

    predict: Callable[[Path], object]  # model -> its outputs on the eval slice (the task's, opaque here)
    score: Callable[[object], float]  # outputs -> the task's primary metric (higher is better)
    agree: Callable[[object, object], float]  # two models' outputs -> share of examples predicted alike
    time_all: Callable[[dict[str, Path]], dict[str, dict]]  # models -> {"p50_ms", "ratio", "vs", "rank"}
    calibration: list[Feeds] | None
    bound: float
    track: Callable = lambda items, *a, **k: items
    max_mb: float | None = None  # the size gate's file limit: larger candidates are not kept
    # two models' outputs -> primary metric of the first minus the second's, {"value", "low", "high"} (95%, paired)
    compare: Callable[[object, object], dict] | None = None
    piece_counts: np.ndarray | None = None  # token id -> occurrences in train, for `embeddings: mixed`


def keepable(scheme: QuantScheme, group: str) -> bool:
    """Whether `scheme` can keep `group` in FP32 (a sensitivity rescue): not the word embeddings when the scheme
    packs their table (`embeddings: mixed` or `int4`), which needs them quantized."""
    return not (group == "embeddings" and scheme.embeddings in ("mixed", "int4"))


def run_auto(cfg: QuantizeConfig, source: Path, work: Path, ctx: AutoContext) -> dict:
    trials = [_trial(s, source, work, cfg, ctx) for s in ctx.track(candidates(cfg), "build candidates")]
    outputs: dict[str, object] = {}
    for t in ctx.track([t for t in trials if t.error is None], "score candidates"):
        t.accuracy = _accuracy(ctx, t.path, outputs, t.name)
    sensitivity: dict[str, list[dict]] = {}
    failing = [
        t for t in trials if t.error is None and t.scheme.mode in ("dynamic", "static") and t.accuracy < ctx.bound
    ]
    for t in failing if cfg.auto.sensitivity else []:
        rows = group_sensitivity(t.scheme, source, work, ctx, cfg.calibration)
        sensitivity[t.name] = rows
        worst = [r["group"] for r in rows if r["loss"] > 0 and keepable(t.scheme, r["group"])][: cfg.auto.sensitivity]
        for k in range(1, len(worst) + 1):
            scheme = t.scheme.model_copy(update={"keep_fp32": [*t.scheme.keep_fp32, *worst[:k]]})
            rescue = _trial(scheme, source, work, cfg, ctx, rescue_of=t.name)
            if rescue.error is None:
                rescue.accuracy = _accuracy(ctx, rescue.path, outputs, rescue.name)
            trials.append(rescue)
    built = {t.name: t.path for t in trials if t.error is None}
    if not built:
        failed = "; ".join(f"{t.name}: {t.error}" for t in trials)
        raise StageError(f"quantize.auto: no candidate could be built ({failed}); list others in auto.candidates")
    for n, timed in ctx.time_all(built).items():
        trial = next(t for t in trials if t.name == n)
        trial.p50_ms, trial.rank = timed["p50_ms"], timed.get("rank")
        trial.timing = {k: v for k, v in timed.items() if k not in ("p50_ms", "rank")}
    ready = usable(trials)
    if ctx.compare is not None and ready and not any(t.within(ctx.bound) for t in ready):
        best = most_accurate(ready)
        for t in ready:
            if t is not best:
                t.versus_best = ctx.compare(outputs[t.name], outputs[best.name])
    winner, rule = choose(trials, ctx.bound, ctx.max_mb)
    return {
        "bound": round(ctx.bound, 6),
        "max_mb": round(ctx.max_mb, 2) if ctx.max_mb is not None else None,
        "winner": winner.name,
        "within_bound": rule == RULES[0],
        "rule": rule,
        "candidates": [t.row(ctx.bound, ctx.max_mb) for t in trials],
        "sensitivity": sensitivity,
        "_winner": winner,
    }


def _trial(
    scheme: QuantScheme, source: Path, work: Path, cfg: QuantizeConfig, ctx: AutoContext, rescue_of=None
) -> Trial:
    label = name(scheme, cfg.calibration.method)
    folder = work / label.replace("(", "_").replace(")", "").replace(",", "_").replace("+", "_")
    folder.mkdir(parents=True, exist_ok=True)
    trial = Trial(label, scheme, folder / "model.onnx", rescue_of=rescue_of)
    try:
        trial.built = build(scheme, source, trial.path, ctx.calibration, cfg.calibration, piece_counts=ctx.piece_counts)
        trial.mb = round(trial.path.stat().st_size / 1e6, 2)
    except StageError as e:
        trial.error = str(e)
    return trial


def _accuracy(ctx: AutoContext, model: Path, outputs: dict[str, object], name: str) -> float:
    outputs[name] = ctx.predict(model)
    return round(float(ctx.score(outputs[name])), 6)
