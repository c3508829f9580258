"""`edgebert bench`: time a dist folder through the runtime apps use (edgebert.runtime), per execution provider
and thread count, at a fixed batch and sequence length. Needs no torch. A provider this onnxruntime lacks is an
error naming the build to install, not a silent fallback: a benchmark must time what it says it times.

On a GPU provider each setting is timed two ways, interleaved: `host` (numpy in, numpy out through session.run,
which copies the inputs to the device and the outputs back each call) and `io_binding` (inputs placed on the
device once, outputs left there: the model alone). CPU settings are timed `host` only; there is nothing to copy.
"""

from __future__ import annotations

from pathlib import Path

from edgebert.ci.check import FILLER
from edgebert.runtime import load
from edgebert.runtime.binding import BoundRunner, device_of
from edgebert.timing.bench import fixed_input, onnx_runner, time_interleaved


def bench_dist(
    dist: Path, providers: list[str], threads: list[int], batch: int, seq: int, iterations: int, mobile: bool = False
) -> list[dict]:
    rows = []
    for provider in providers:
        for t in threads:
            clf = load(dist, threads=t, providers=[provider], strict=True, mobile=mobile)
            if clf.fixed_seq:  # a fixed-shape model takes only its own shape
                batch, seq = clf.fixed_batch, clf.fixed_seq
            else:
                clf.tokenizer.enable_truncation(max(seq, clf.max_length))
            feeds = fixed_input(clf.encode, FILLER, batch, seq)
            runners = {"host": onnx_runner(clf.session)}
            if device_of(clf.session) != "cpu":
                call = BoundRunner(clf.session).resident(feeds)
                runners["io_binding"] = lambda _feeds, call=call: call()
            for io, timed in time_interleaved(runners, feeds, 10, iterations).items():
                rows.append(
                    {
                        "provider": provider,
                        "threads": t,
                        "batch": batch,
                        "seq": seq,
                        "io": io,
                        **timed,
                        "used": clf.session.get_providers()[0],
                    }
                )
    return rows
