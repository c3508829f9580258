"""Find how much to prune to meet a budget: FLOPs exactly, latency from a model fitted to real ORT timings.

Latency: a few pruned variants (fractions `ANCHORS` of heads and FFN neurons removed, the least important
first) are built in the form that ships (exported, quantized), timed interleaved in one process on this
machine, and a line p50 = a + b·GFLOPs is fitted (on a CPU the matrix products scale with FLOPs; `a` is the
fixed cost: embeddings, layer norms, activation quantization). The fraction the line predicts is built and
timed beside its neighbours; while it misses the budget by more than `tolerance`, the line is refitted through
the two measured points that bracket the budget and solved again (a secant step), at most `max_rounds` times.
It does not train; callers recover accuracy afterwards.

    >>> solve_fraction(lambda f: 10 - 8 * f, target=6.0, max_fraction=0.9)
    0.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgebert.errors import RecipeError

ANCHORS = (0.0, 0.45, 0.9)
GRID = np.round(np.arange(0.0, 0.951, 0.01), 2)


@dataclass
class BudgetSearch:
    fraction: float
    predicted: float
    measured: float | None
    points: list[dict] = field(default_factory=list)  # {"fraction", "gflops", "p50_ms"}

    def as_dict(self) -> dict:
        return {
            "fraction": self.fraction,
            "predicted": round(self.predicted, 3),
            "measured": self.measured,
            "points": self.points,
        }


def solve_fraction(cost: Callable[[float], float], target: float, max_fraction: float) -> float:
    """Smallest fraction on a 1% grid whose cost is at most `target` (cost falls as the fraction grows)."""
    for f in GRID[GRID <= max_fraction]:
        if cost(float(f)) <= target:
            return float(f)
    return float(max_fraction)


def flops_fraction(gflops: Callable[[float], float], bound: float, max_fraction: float) -> BudgetSearch:
    """The least pruning whose encoder GFLOPs meet `bound`; a RecipeError when none or no pruning is needed."""
    if gflops(0.0) <= bound:
        raise RecipeError(
            f"prune.budget.gflops {bound:g} is already met: the unpruned encoder needs {gflops(0.0):.3f} GFLOPs; "
            "lower the bound or remove prune.budget"
        )
    if gflops(max_fraction) > bound:
        raise RecipeError(
            f"prune.budget.gflops {bound:g} is out of reach: removing {max_fraction:.0%} of heads and neurons still "
            f"needs {gflops(max_fraction):.3f} GFLOPs; raise the bound or keep fewer layers (distill.num_layers)"
        )
    f = solve_fraction(gflops, bound, max_fraction)
    return BudgetSearch(f, gflops(f), round(gflops(f), 4), [])


def latency_fraction(
    time_fractions: Callable[[list[float]], dict[float, float]],
    gflops: Callable[[float], float],
    budget_ms: float,
    max_fraction: float,
    tolerance: float = 0.05,
    max_rounds: int = 3,
) -> BudgetSearch:
    """Search the fraction whose p50 (from `time_fractions([f…]) -> {f: p50_ms}`) lands on `budget_ms`."""
    anchors = sorted({min(a, max_fraction) for a in ANCHORS})
    measured = time_fractions(anchors)
    if measured[0.0] <= budget_ms:
        raise RecipeError(
            f"prune.budget.p50_ms {budget_ms:g} is already met: the unpruned model measures {measured[0.0]:.2f} ms "
            "here; lower the budget or remove prune.budget"
        )
    if measured[anchors[-1]] > budget_ms * (1 + tolerance):
        raise RecipeError(
            f"prune.budget.p50_ms {budget_ms:g} is out of reach: removing {anchors[-1]:.0%} of heads and neurons "
            f"still measures {measured[anchors[-1]]:.2f} ms here; raise the budget or keep fewer layers"
        )
    x = np.array([gflops(f) for f in anchors])
    slope, intercept = np.polyfit(x, np.array([measured[f] for f in anchors]), 1)
    line = lambda q: float(intercept + slope * gflops(q))  # noqa: E731
    f = solve_fraction(line, budget_ms, max_fraction)
    search = BudgetSearch(f, line(f), None)
    for step in range(max_rounds + 1):
        # time the fraction beside its measured neighbours, so the compared numbers come from one run
        measured.update(time_fractions(sorted({f, *_bracket(measured, f)})))
        if abs(measured[f] - budget_ms) <= tolerance * budget_ms or step == max_rounds:
            break
        lo, hi = _bracket_budget(measured, budget_ms)
        if lo is None or hi is None or hi - lo <= 0.01:
            break
        # secant through the two measured fractions either side of the budget
        f_new = lo + (hi - lo) * (measured[lo] - budget_ms) / (measured[lo] - measured[hi])
        f_new = float(np.clip(np.round(f_new, 2), lo + 0.01, hi - 0.01))
        if f_new == f:
            break
        f = f_new
    # the least pruning measured to meet the budget (within the tolerance)
    meeting = [q for q, ms in measured.items() if ms <= budget_ms * (1 + tolerance)]
    search.fraction = min(meeting) if meeting else f
    search.predicted = line(search.fraction)  # what the first fitted line says of the fraction kept
    search.measured = round(measured[search.fraction], 3)
    search.points = [
        {"fraction": q, "gflops": round(gflops(q), 4), "p50_ms": round(measured[q], 3)} for q in sorted(measured)
    ]
    return search


def _bracket(measured: dict[float, float], f: float) -> list[float]:
    below = [q for q in measured if q < f]
    above = [q for q in measured if q > f]
    return ([max(below)] if below else []) + ([min(above)] if above else [])


def _bracket_budget(measured: dict[float, float], budget: float) -> tuple[float | None, float | None]:
    """The largest fraction still over budget and the smallest one under it."""
    over = [q for q, ms in measured.items() if ms > budget]
    under = [q for q, ms in measured.items() if ms <= budget]
    return (max(over) if over else None), (min(under) if under else None)
