import numpy as np
import pytest

from edgebert.evaluate import accuracy_with_ci, gate_resolution_warning, macro_f1, macro_f1_with_ci, wilson
from edgebert.gates import check_gates
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


def test_small_split_warns_for_tight_accuracy_gate():
    assert "cannot tell a real drop from noise" in gate_resolution_warning(872, 0.9, 0.01)
    assert gate_resolution_warning(100_000, 0.9, 0.01) is None


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
