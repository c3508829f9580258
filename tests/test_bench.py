import time

import numpy as np
import pytest

from edgebert.timing.bench import fixed_input, summarise, time_interleaved


def _encode(texts):
    ids = [[101] + [7] * len(t.split()) + [102] for t in texts]
    width = max(map(len, ids))
    arr = np.array([i + [0] * (width - len(i)) for i in ids])
    return {"input_ids": arr, "attention_mask": (arr > 0).astype(np.int64)}


def test_fixed_input_is_exactly_seq_long_and_unpadded():
    feeds = fixed_input(_encode, ["one two three", "four five"], batch=3, seq=40)
    assert feeds["input_ids"].shape == (3, 40) and feeds["attention_mask"].all()


def test_interleaved_timing_separates_fast_from_slow():
    runners = {"fast": lambda f: time.sleep(0.001), "slow": lambda f: time.sleep(0.004)}
    out = time_interleaved(runners, {}, warmup=1, iterations=10, rounds=5, settle_s=0.0)
    assert out["fast"]["n"] == 10 and out["slow"]["n"] == 10
    assert out["slow"]["p50_ms"] > 2 * out["fast"]["p50_ms"]


def test_summarise_percentiles():
    s = summarise(list(range(1, 101)))
    assert s["p50_ms"] == 50.5 and s["p90_ms"] == 90.1 and s["n"] == 100


def test_fixed_input_fails_fast_when_the_tokenizer_truncates_below_seq():
    def truncating(texts):
        n = min(16, len(texts[0].split()))
        return {"input_ids": np.ones((1, n), dtype=np.int64)}

    with pytest.raises(ValueError, match="stops at 16 tokens"):
        fixed_input(truncating, ["one two three four five"], batch=1, seq=128)
