"""Timing: warm-up, interleaved rounds, p50/p90/p99, real-sentence throughput, peak memory.

Models are timed in interleaved rounds (A B C A B C …) in one process, so a slow spell of a noisy machine hits
every model alike and ratios between them stay meaningful. Peak RSS is read in a fresh subprocess per model,
since a process's peak memory cannot be attributed to one of several models it loaded. Nothing here decides
pass or fail (gates.py does).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

Runner = Callable[[dict[str, np.ndarray]], object]
SETTLE_S = 0.3  # pause at each switch between models (why: time_interleaved)


def fixed_input(
    encode: Callable[[list], dict[str, np.ndarray]], examples: list, batch: int, seq: int
) -> dict[str, np.ndarray]:
    """Real token ids, exactly `seq` long and unpadded, repeated `batch` times (examples joined until long enough;
    for (text, text_pair) examples each side is joined with its own, so the input is one long pair)."""
    pairs = bool(examples) and isinstance(examples[0], tuple)
    joined, longest, stalled = ("", "") if pairs else "", 0, 0
    for i in range(len(examples) * 50):
        example = examples[i % len(examples)]
        joined = (joined[0] + " " + example[0], joined[1] + " " + example[1]) if pairs else joined + " " + example
        feeds = encode([joined])
        length = feeds["input_ids"].shape[1]
        if length >= seq:
            break
        stalled = stalled + 1 if length <= longest else 0
        longest = max(longest, length)
        if stalled >= 3:
            raise ValueError(f"the tokenizer stops at {longest} tokens (truncation), below the benchmark's seq {seq}")
    else:
        raise ValueError("texts too short to build a fixed-length benchmark input")
    return {k: np.repeat(v[:, :seq], batch, axis=0) for k, v in feeds.items()}


def summarise(samples_ms: list[float]) -> dict:
    a = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p90_ms": round(float(np.percentile(a, 90)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "n": len(a),
    }


def time_interleaved(
    runners: dict[str, Runner],
    feeds: dict[str, np.ndarray],
    warmup: int,
    iterations: int,
    rounds: int = 10,
    settle_s: float = SETTLE_S,
) -> dict[str, dict]:
    """Per-call latencies of each runner, `iterations` calls each, spread over `rounds` interleaved rounds.

    ONNX Runtime's and torch's thread pools spin for a while after a call; on a small machine the previous
    model's spinning threads steal cores from the next one (measured here: a 3-layer model read 16 ms interleaved
    vs 8.5 ms alone). torch's workers spin longest: with a 0.05 s pause after the PyTorch reference, every ONNX
    model read ~40% slower than without the reference (INT8 student 6.5 vs 4.1 ms); 0.3 s removed that.
    So each switch pauses `settle_s` and makes one untimed call before timing.
    """
    by_round = paired_rounds(runners, feeds, warmup, rounds, max(1, iterations // rounds), settle_s)
    return {name: summarise(flat(per_round)) for name, per_round in by_round.items()}


def flat(rounds: list[list[float]]) -> list[float]:
    """paired_rounds' per-round samples of one model as one list."""
    return [ms for calls in rounds for ms in calls]


def throughput(
    run: Runner, encode: Callable[[list[str]], dict[str, np.ndarray]], texts: list[str], batch_size: int = 1
) -> float:
    """Sentences per second over real texts, each batch padded to its longest member (batch 1: no padding)."""
    feeds = [encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    run(feeds[0])
    start = time.perf_counter()
    for f in feeds:
        run(f)
    return round(len(texts) / (time.perf_counter() - start), 1)


# Linux keeps ru_maxrss across execve, so a child forked from a large parent reports the parent's peak;
# VmHWM belongs to the new address space. ru_maxrss is the fallback where /proc is absent (macOS).
_RSS_PROBE = """
import json, resource, sys
from pathlib import Path
from edgebert.runtime.session import make_session
from edgebert.runtime.tokenizer import TextEncoder
a = json.loads(sys.argv[1])
session = make_session(a["model"], threads=a["threads"])
encoder = TextEncoder.from_file(a["tokenizer"], a["max_length"], [i.name for i in session.get_inputs()])
for text in a["texts"]:
    session.run(None, encoder.feeds([text]))
status = Path("/proc/self/status")
lines = status.read_text().splitlines() if status.exists() else []
hwm = [line.split()[1] for line in lines if line.startswith("VmHWM")]
print(hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(model: Path, tokenizer: Path, max_length: int, texts: list[str], threads: int) -> float:
    """Peak resident memory (MB) of a fresh process that loads the model and runs it on `texts` at batch 1."""
    args = json.dumps(
        {
            "model": str(model),
            "tokenizer": str(tokenizer),
            "max_length": max_length,
            "texts": texts[:64],
            "threads": threads,
        }
    )
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE, args], capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip().splitlines()[-1]) / 1024, 1)


def torch_runner(model) -> Runner:
    import torch

    def run(feeds: dict[str, np.ndarray]) -> object:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in feeds.items()})

    return run


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Set torch's intra-op threads for a block and restore them after (the library changes no global for good)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def onnx_runner(session) -> Runner:
    names = {i.name for i in session.get_inputs()}
    return lambda feeds: session.run(None, {k: v for k, v in feeds.items() if k in names})


def paired_rounds(
    runners: dict[str, Runner], feeds: dict[str, np.ndarray], warmup: int, rounds: int, calls: int, settle_s: float
) -> dict[str, list[list[float]]]:
    """Per-call latencies (ms) of each runner, grouped by round: A B, then B A, alternately, in one process.

    Each switch pauses `settle_s` and makes one untimed call, so the previous model's spinning threads are gone.
    """
    for run in runners.values():
        for _ in range(warmup):
            run(feeds)
    out: dict[str, list[list[float]]] = {name: [] for name in runners}
    for r in range(rounds):
        for name in list(runners) if r % 2 == 0 else list(reversed(runners)):
            run = runners[name]
            time.sleep(settle_s)
            run(feeds)
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                run(feeds)
                samples.append((time.perf_counter() - start) * 1000)
            out[name].append(samples)
    return out


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n_rounds: int, confidence: float, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of `statistic(round_indices)` over rounds resampled with replacement (fixed seed)."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n_rounds, n_rounds)) for _ in range(resamples)]
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def ratio_with_interval(a: list[list[float]], b: list[list[float]], confidence: float) -> dict:
    """Geometric mean over rounds of (median A / median B) in the same round, with a bootstrap interval.

    >>> ratio_with_interval([[2.0, 2.2]] * 6, [[1.0, 1.1]] * 6, 0.95)["ratio"]
    2.0
    """
    log_ratios = np.log(np.array([np.median(x) for x in a]) / np.array([np.median(y) for y in b]))
    low, high = bootstrap_interval(lambda idx: float(np.exp(log_ratios[idx].mean())), len(log_ratios), confidence)
    return {"ratio": round(float(np.exp(log_ratios.mean())), 4), "low": round(low, 4), "high": round(high, 4)}


def percentile_with_interval(rounds: list[list[float]], q: float, confidence: float) -> dict:
    """The q-th percentile of all calls, with a bootstrap interval over rounds."""
    arr = [np.asarray(r) for r in rounds]
    stat = lambda idx: float(np.percentile(np.concatenate([arr[i] for i in idx]), q))  # noqa: E731
    low, high = bootstrap_interval(stat, len(arr), confidence)
    return {"ms": round(stat(range(len(arr))), 3), "low": round(low, 3), "high": round(high, 3)}
