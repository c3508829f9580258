"""Two models timed against each other, pair by pair in one process, on the workloads a user compares them on:
a fixed input (batch 1, exactly `seq` tokens), real sentences one at a time, and the same sentences in batches
of 32, each batch padded to its longest. The benchmark stage times the shipped model against each peer with it;
benchmarks/peer_timing.py does the same for a dist folder on another machine. It judges nothing.

    >>> versus("student-int8", inputs_a, "optimum-int8", inputs_b, texts, Workload(seq=128))["real_b1"]
    {'ratio': 0.41, 'low': 0.39, 'high': 0.43, 'ms': {'student-int8': 1.9, 'optimum-int8': 4.6}}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgebert.timing.bench import Runner, flat, paired_rounds, ratio_with_interval

BATCH = 32  # the batched real-sentence workload


@dataclass(frozen=True)
class Inputs:
    """One model's runner, its fixed input and its encoder (each model reads its own tokenizer)."""

    run: Runner
    fixed: dict[str, np.ndarray]
    encode: Callable[[list[str]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Workload:
    seq: int
    calls: int = 10  # timed calls per round at the fixed input
    rounds: int = 10
    settle_s: float = 0.3


def versus(a: str, inputs_a: Inputs, b: str, inputs_b: Inputs, texts: list[str], w: Workload) -> dict:
    """{workload: {"ratio", "low", "high", "ms": {a, b}}}: a's time over b's within each round (geometric mean over
    rounds, 95% bootstrap interval); ms is per call at the fixed input, per sentence on the real ones."""
    both = {a: inputs_a, b: inputs_b}
    workloads = {f"seq{w.seq}": ({n: functools.partial(call, i.run, i.fixed) for n, i in both.items()}, w.calls, 1)}
    for size in (1, BATCH):
        sweeps = {n: functools.partial(sweep, i.run, _batches(i.encode, texts, size)) for n, i in both.items()}
        workloads[f"real_b{size}"] = (sweeps, 1, len(texts))
    out = {}
    for name, (pair, calls, per) in workloads.items():
        rounds = paired_rounds(pair, {}, 1, w.rounds, calls, w.settle_s)
        rounds = {n: [[ms / per for ms in r] for r in rs] for n, rs in rounds.items()}
        out[name] = ratio_with_interval(rounds[a], rounds[b], 0.95) | {
            "ms": {n: round(float(np.median(flat(rs))), 4) for n, rs in rounds.items()}
        }
    return out


def faster(r: dict) -> dict:
    """A versus() workload as "x faster" for `a` (b's time over a's): {"x", "low", "high", "ms"}."""
    x = {"x": round(1 / r["ratio"], 2), "low": round(1 / r["high"], 2), "high": round(1 / r["low"], 2)}
    return x | {"ms": r["ms"]}


def call(run: Runner, feeds: dict, _shared: dict) -> object:
    """One call on the model's own feeds (a paired_rounds runner: its shared feeds are unused)."""
    return run(feeds)


def sweep(run: Runner, batches: list[dict], _shared: dict) -> None:
    """One pass over pre-encoded batches (a paired_rounds runner: its shared feeds are unused)."""
    for feeds in batches:
        run(feeds)


def _batches(encode, texts: list[str], size: int) -> list[dict]:
    """The texts encoded in batches of `size`, in order, each padded to its longest member."""
    return [encode(texts[i : i + size]) for i in range(0, len(texts), size)]
