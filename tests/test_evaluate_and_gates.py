import numpy as np
import pytest

from edgebert.errors import DataError
from edgebert.evaluate import (
    accuracy_difference,
    accuracy_with_ci,
    entity_f1_difference,
    entity_metrics,
    macro_f1,
    macro_f1_with_ci,
    spearman_difference,
    spearman_with_ci,
    wilson,
)
from edgebert.gates import check_gates, exit_code
from edgebert.recipe import GatesConfig


def test_wilson_matches_reference_values():
    low, high = wilson(90, 100)  # reference: 0.8256 .. 0.9448
    assert low == pytest.approx(0.8256, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0


def test_macro_f1_and_intervals():
    y = np.array([0, 0, 1, 1, 1, 1])
    p = np.array([0, 1, 1, 1, 1, 0])
    assert macro_f1(y, p, 2) == pytest.approx((0.5 + 0.75) / 2)
    acc = accuracy_with_ci(y, p)
    f1 = macro_f1_with_ci(y, p, 2, seed=1)
    assert acc["value"] == pytest.approx(4 / 6) and acc["low"] < acc["value"] < acc["high"]
    assert f1["low"] <= f1["value"] <= f1["high"]


def test_paired_differences_are_the_metric_gaps_with_intervals_that_pairing_narrows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    a = np.where(rng.random(2000) < 0.9, y, 1 - y)  # 90% right
    b = a.copy()
    b[np.flatnonzero(a == y)[:3]] ^= 1  # three examples apart
    d = accuracy_difference(y, b, a)
    assert d["value"] == pytest.approx(-3 / 2000) and d["low"] <= d["value"] <= d["high"] <= 0
    # unpaired, the two accuracies' intervals overlap almost entirely; paired, the gap is nearly resolved
    assert d["high"] - d["low"] < 0.01 < accuracy_with_ci(y, a)["high"] - accuracy_with_ci(y, a)["low"]
    b[np.flatnonzero(a != y)[:2]] ^= 1  # and two the other way: one apart, a tie
    tie = accuracy_difference(y, b, a)
    assert tie["value"] == pytest.approx(-1 / 2000) and tie["low"] < 0 < tie["high"]

    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "O"], ["O", "B-ORG", "O"]] * 20
    pred = [["B-PER", "I-PER", "O"], ["O", "O", "O"], ["O", "B-ORG", "O"]] * 20
    f1 = entity_f1_difference(gold, pred, gold)
    gap = entity_metrics(gold, pred)["entity_f1"]["value"] - 1.0
    assert f1["value"] == pytest.approx(gap, abs=1e-6) and f1["low"] <= f1["value"] <= f1["high"] < 0

    scores = rng.random(300)
    close, far = scores + 0.05 * rng.standard_normal(300), scores + 0.5 * rng.standard_normal(300)
    sp = spearman_difference(far, close, scores)
    gap = spearman_with_ci(far, scores)["value"] - spearman_with_ci(close, scores)["value"]
    assert sp["value"] == pytest.approx(gap, abs=1e-6) and sp["low"] <= sp["value"] <= sp["high"] < 0


def test_small_split_warns_for_tight_accuracy_gate():
    from edgebert.gates import quality_resolution_warning
    from edgebert.recipe import QualityGate

    def evaluation(n: int) -> dict:  # 90% right, its Wilson interval as evaluate records it
        y = np.ones(n, dtype=int)
        pred = np.where(np.arange(n) < round(0.9 * n), 1, 0)
        return {"n": n, "shipped": "s", "models": {"s": {"accuracy": accuracy_with_ci(y, pred)}}}

    gate = QualityGate(metric="accuracy", max_drop=0.01)
    assert "cannot tell a real drop from noise" in quality_resolution_warning(evaluation(872), gate)
    assert quality_resolution_warning(evaluation(100_000), gate) is None


def _measured(student_acc=0.89, student_p50=2.0, student_p90=2.5):
    evaluation = {
        "shipped": "student-int8",
        "models": {"teacher": {"accuracy": {"value": 0.90}}, "student-int8": {"accuracy": {"value": student_acc}}},
    }
    fixed = {
        "teacher-pytorch": {"p50_ms": 20.0, "p90_ms": 22.0},
        "student-int8": {"p50_ms": student_p50, "p90_ms": student_p90},
    }
    return evaluation, {"batch": 1, "seq": 128, "fixed": {"2": fixed}}


def test_gates_pass_and_fail_with_measured_values():
    gates = GatesConfig(
        accuracy={"max_drop": 0.015}, latency={"threads": 2, "p90_ms": 3.0, "max_ratio": 0.125}, size={"max_mb": 20}
    )
    ok = check_gates(gates, *_measured(), shipped_mb=17.5)
    assert [v.gate for v in ok] == ["accuracy", "latency", "latency-ratio", "size"] and all(v.passed for v in ok)
    bad = {v.gate: v for v in check_gates(gates, *_measured(0.87, 3.0, 3.5), shipped_mb=21)}
    assert not bad["accuracy"].passed and bad["accuracy"].measured == pytest.approx(3.0)
    assert not bad["latency"].passed and not bad["latency-ratio"].passed and not bad["size"].passed
    assert "FAIL  size: 21 MB (bound 20 MB" in bad["size"].line()
    # max_ratio: the shipped file against the teacher's ONNX file of the same run
    evaluation, timings = _measured()
    timings["file_mb"] = {"teacher": 90.4, "student-int8": 22.7}
    ratio = check_gates(GatesConfig(size={"max_ratio": 0.25}), evaluation, timings, shipped_mb=22.7)
    assert [(v.gate, v.passed, v.measured) for v in ratio] == [("size", False, 0.2511)]
    fits = check_gates(GatesConfig(size={"max_ratio": 0.25, "max_mb": 20}), evaluation, timings, shipped_mb=17.4)
    assert [v.passed for v in fits] == [True, True] and "teacher ONNX 90.4 MB" in fits[1].detail
    with pytest.raises(ValueError, match="gates.size needs max_mb"):
        GatesConfig(size={})


def test_latency_ratio_is_paired_within_rounds_and_inconclusive_when_its_interval_straddles_the_bound():
    """The gate reads the per-round ratio the benchmark recorded, not the ratio of two pooled p50s; an interval
    across the bound is inconclusive (exit 5), and a failure on a CPU without INT8 dot-product instructions
    says so."""
    gates = GatesConfig(latency={"threads": 2, "max_ratio": 0.125})
    evaluation, timings = _measured(student_p50=3.0)  # pooled p50s: 3.0 / 20.0 = 0.15, a FAIL
    timings |= {"anchor": "teacher-pytorch", "host": {"cpu": "x", "cores": 2, "int8_dot": ["avx512_vnni"]}}
    row = timings["fixed"]["2"]["student-int8"]

    def verdict(ratio, low, high):
        row["x_anchor"] = {"ratio": ratio, "low": low, "high": high}
        (v,) = check_gates(gates, evaluation, timings, shipped_mb=1)
        return v

    paired = verdict(0.11, 0.1, 0.12)
    assert paired.passed and paired.measured == 0.11 and "paired per round" in paired.detail
    assert "[95% 0.1-0.12]" in paired.line() and exit_code([paired]) == 0
    slow = verdict(0.2, 0.18, 0.22)
    assert slow.status == "fail" and "VNNI" not in slow.detail and exit_code([paired, slow]) == 3
    unsure = verdict(0.13, 0.11, 0.15)
    assert unsure.status == "inconclusive" and not unsure.passed and "--from benchmark" in unsure.detail
    assert unsure.line().startswith("INCONCLUSIVE") and exit_code([paired, unsure]) == 5
    assert exit_code([slow, unsure]) == 3
    timings["host"]["int8_dot"] = []
    no_vnni = verdict(0.2, 0.18, 0.22)
    assert no_vnni.status == "fail" and "no INT8 dot-product instructions (VNNI)" in no_vnni.detail
    del timings["anchor"]  # a run recorded before paired ratios: the two p50s, no interval
    (old,) = check_gates(gates, evaluation, timings, shipped_mb=1)
    assert old.status == "fail" and old.measured == 0.15 and old.low is None


def test_host_description_reads_the_cpu_flags(monkeypatch):
    import sys

    from edgebert.timing import machine

    host = machine.describe()
    assert host["cores"] >= 1 and host["cpu"]
    if sys.platform == "linux":  # /proc/cpuinfo has a flags line: the answer is a list, [] when none is there
        assert isinstance(host["int8_dot"], list)
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "Some CPU", "flags": "fpu avx2 avx512_vnni"})
    assert machine.summary(machine.describe()).endswith("INT8 dot product: avx512_vnni")
    monkeypatch.setattr(machine, "_cpuinfo", lambda: {"model name": "Old CPU", "flags": "fpu avx2"})
    assert machine.describe()["int8_dot"] == [] and machine.summary(machine.describe()).startswith("Old CPU, ")
    assert machine.summary(machine.describe()).endswith("INT8 dot product: none")


def test_spearman_matches_scipy_with_an_interval_and_neighbours_are_shared():
    from scipy.stats import spearmanr

    from edgebert.evaluate import neighbour_agreement, spearman_with_ci

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 6, 800).astype(float)  # ties, as STS-B's scores have
    predicted = gold + rng.normal(0, 1.5, 800)
    r = spearman_with_ci(predicted, gold)
    assert r["value"] == pytest.approx(spearmanr(predicted, gold).statistic, abs=1e-6)
    assert r["low"] < r["value"] < r["high"] and r["high"] - r["low"] < 0.15 and r["n"] == 800
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    assert neighbour_agreement(vectors, vectors * 3.0) == 1.0  # scale does not change cosine neighbours
    noisy = neighbour_agreement(vectors, vectors + rng.normal(0, 0.3, vectors.shape))
    unrelated = neighbour_agreement(vectors, rng.normal(size=vectors.shape))
    assert 0.3 < noisy < 1.0 and unrelated < 0.05


def test_scored_pairs_read_strictly(tmp_path):
    from edgebert.data.pairs import PairColumns, read_pairs

    def read(text, **columns):
        (tmp_path / "pairs.tsv").write_text(text)
        return read_pairs("pairs.tsv", "test", PairColumns(**columns), lambda p: tmp_path / p)

    ok = read("sentence1\tsentence2\tscore\nA dog runs.\tA dog is running.\t4.8\nA cat.\tA dog runs.\t0.5\n")
    assert ok.first == ["A dog runs.", "A cat."] and ok.scores == [4.8, 0.5]
    assert ok.texts == ["A dog runs.", "A cat.", "A dog is running."]
    errors = [
        (
            "sentence1\tsentence2\nA.\tB.\n",
            {},
            "pairs.tsv has no column 'score' for data.score; its columns: sentence1, sentence2",
        ),
        (
            "sentence1\tsentence2\tscore\nA.\tB.\thigh\n",
            {},
            "pairs.tsv line 2: score 'high' (data.score='score') is not a number",
        ),
        (
            "sentence1\tsentence2\tscore\nA.\tB.\t7\n",
            {"low": 0, "high": 5},
            "pairs.tsv line 2: score 7 is outside data.score_range [0, 5]",
        ),
        ("sentence1\tsentence2\tscore\n", {}, "data.test (pairs.tsv) has no pairs"),
    ]
    for text, columns, message in errors:
        with pytest.raises(DataError) as e:
            read(text, **columns)
        assert str(e.value).startswith(message), str(e.value)
