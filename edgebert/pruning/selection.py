"""Turn importance scores and targets into a PrunePlan: which heads and neurons go.

Heads are ranked across all layers on the per-layer-normalised scores (Michel et al. prune globally), with at
least one head kept per layer; `uniform_heads` removes the same number from every layer instead. FFN neurons
are ranked within each layer and every layer keeps the same count (see surgery.py for why).
It does not touch a model.

    >>> imp = Importance(heads=[[0.9, 0.1], [0.2, 0.8]], neurons=[[3, 1, 2], [1, 2, 3]], batches=1)
    >>> plan = select(imp, [[0, 1], [0, 1]], drop_heads=2, keep_neurons=2)
    >>> plan.heads, plan.neurons
    ({0: [1], 1: [0]}, {0: [0, 2], 1: [1, 2]})
"""

from __future__ import annotations

from edgebert.pruning.importance import Importance
from edgebert.pruning.surgery import PrunePlan


def targets(original_heads: int, original_width: int, heads: float, ffn: float) -> tuple[int, int]:
    """(heads to have removed in all, FFN neurons to keep per layer) for fractions of the original model.

    >>> targets(36, 1536, 0.5, 0.6)
    (18, 614)
    """
    return round(heads * original_heads), original_width - round(ffn * original_width)


def select(
    importance: Importance,
    heads_present: list[list[int]],
    drop_heads: int,
    keep_neurons: int,
    uniform_heads: bool = False,
) -> PrunePlan:
    """Remove `drop_heads` more heads (the least important) and keep `keep_neurons` neurons in each layer."""
    plan = PrunePlan()
    if drop_heads > 0:
        left = [len(h) for h in heads_present]
        if uniform_heads:
            per_layer = -(-drop_heads // len(left))
            ranked = [
                (rank, s, i, k)
                for i, scores in enumerate(importance.heads)
                for rank, (s, k) in enumerate(sorted((s, k) for k, s in enumerate(scores)))
                if rank < per_layer
            ]
        else:
            ranked = [(0, s, i, k) for i, scores in enumerate(importance.heads) for k, s in enumerate(scores)]
        for *_, i, k in sorted(ranked):
            if drop_heads == 0:
                break
            if left[i] > 1:
                plan.heads.setdefault(i, []).append(heads_present[i][k])
                left[i] -= 1
                drop_heads -= 1
        plan.heads = {i: sorted(h) for i, h in sorted(plan.heads.items())}
    if keep_neurons < len(importance.neurons[0]):
        for i, scores in enumerate(importance.neurons):
            plan.neurons[i] = sorted(sorted(range(len(scores)), key=lambda k: -scores[k])[:keep_neurons])
    return plan
