"""Budgets -> verdicts, for the recipe's gates and for `edgebert check` alike (one Verdict type, one meaning of
pass, fail and inconclusive, one set of exit codes). A failed gate is a failure (exit code 3 from the CLI),
never a warning. A latency ratio whose 95% interval straddles its bound is inconclusive (exit code 5): on a
shared machine the same dist has read both sides of a bound in consecutive runs, and a verdict the
measurement cannot support would be a coin toss.

Inputs are the evaluate and benchmark summaries the pipeline recorded; nothing is measured here.

    >>> check_gates(GatesConfig(size=SizeGate(max_mb=8)), metrics, timings, sizes)
    [Verdict(gate='size', status='fail', measured=17.4, bound=8.0, unit='MB', detail='student INT8 file')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from edgebert.recipe import GatesConfig, QualityGate

Status = Literal["pass", "fail", "inconclusive"]
EXIT_CODES = {"pass": 0, "fail": 3, "inconclusive": 5}
WORDS = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


@dataclass(frozen=True)
class Verdict:
    """One gate's or budget's outcome: `gate` names it (a recipe gate, or a budget of `edgebert check`)."""

    gate: str
    status: Status
    measured: float
    bound: float
    unit: str
    detail: str
    low: float | None = None  # the measurement's 95% interval, where it has one
    high: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def line(self) -> str:
        interval = f" [95% {self.low:g}-{self.high:g}]" if self.low is not None else ""
        return (
            f"{WORDS[self.status]}  {self.gate}: {self.measured:g}{interval} {self.unit} "
            f"(bound {self.bound:g} {self.unit}; {self.detail})"
        )

    def as_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def exit_code(verdicts: list[Verdict]) -> int:
    """3 if any gate failed, else 5 if any is inconclusive, else 0."""
    states = {v.status for v in verdicts}
    return EXIT_CODES["fail" if "fail" in states else "inconclusive" if "inconclusive" in states else "pass"]


def _ok(passed: bool) -> Status:
    return "pass" if passed else "fail"


def check_gates(
    gates: GatesConfig,
    evaluation: dict,
    benchmark: dict,
    shipped_mb: float,
    mobile: tuple[str, dict] | None = None,
    primary: str = "accuracy",
) -> list[Verdict]:
    """Evaluate each configured gate on the shipped model (the last model in the evaluation/benchmark tables);
    `mobile` is (which model, its usability analysis) for the mobile gate; `primary` is the task's primary
    metric, which a quality gate without `metric:` reads."""
    verdicts = _quality(gates.quality_gate(primary), evaluation)
    shipped = evaluation["shipped"]
    for lat in gates.latency_gates():
        row = benchmark["fixed"][str(lat.threads)]
        setting = f"batch {benchmark['batch']}, seq {benchmark['seq']}, {lat.threads} threads"
        if lat.p90_ms is not None:
            p90 = row[shipped]["p90_ms"]
            ok = _ok(p90 <= lat.p90_ms)
            verdicts.append(Verdict("latency", ok, p90, lat.p90_ms, "ms p90", f"{shipped}, {setting}"))
        if lat.max_ratio is not None and lat.vs == "pytorch":
            verdicts.append(_latency_ratio(benchmark, row, shipped, lat.max_ratio, setting))
        elif lat.max_ratio is not None:
            verdicts += _peer_ratios(benchmark, shipped, lat.vs, lat.threads, lat.max_ratio)
    if gates.size is not None:
        size, teacher_mb = gates.size, benchmark.get("file_mb", {}).get("teacher")
        if size.max_mb is not None:
            ok = _ok(shipped_mb <= size.max_mb)
            verdicts.append(Verdict("size", ok, round(shipped_mb, 2), size.max_mb, "MB", f"{shipped} model file"))
        if size.max_ratio is not None:
            ratio = shipped_mb / teacher_mb if teacher_mb else float("inf")
            verdicts.append(
                Verdict(
                    "size",
                    _ok(ratio <= size.max_ratio),
                    round(ratio, 4),
                    size.max_ratio,
                    "x teacher file",
                    f"{shipped} {shipped_mb:.1f} MB, teacher ONNX {teacher_mb or 0:.1f} MB",
                )
            )
    if gates.mobile is not None and mobile is not None:
        g, (which, usability) = gates.mobile, mobile
        r = usability[g.ep]["as_is"]
        verdicts.append(
            Verdict(
                "mobile",
                _ok(r["supported_share"] >= g.min_share and r["partitions"] <= g.max_partitions),
                round(r["supported_share"] * 100, 1),
                g.min_share * 100,
                f"% of nodes on {g.ep}",
                f"{which}: {r['partitions']} partition(s), at most {g.max_partitions} allowed; "
                f"unsupported: {', '.join(r['unsupported_ops']) or 'none'}",
            )
        )
    return verdicts


def _quality(gate: QualityGate | None, evaluation: dict) -> list[Verdict]:
    """The metric's drop from the teacher's ONNX export (points) and/or its absolute floor; higher is better."""
    if gate is None:
        return []
    shipped, metric = evaluation["shipped"], gate.metric
    student = evaluation["models"][shipped][metric]["value"]
    teacher = evaluation["models"]["teacher"][metric]["value"]
    where = f"{shipped} {student:.4f} vs teacher {teacher:.4f}, both ONNX on the test split"
    verdicts = []
    if gate.max_drop is not None:
        drop = round((teacher - student) * 100, 2)
        ok = _ok(drop <= gate.max_drop * 100)
        verdicts.append(Verdict(metric, ok, drop, gate.max_drop * 100, "points drop", where))
    if gate.min is not None:
        ok = _ok(student >= gate.min)
        verdicts.append(
            Verdict(f"{metric}-min", ok, round(student, 4), gate.min, "(min)", f"{shipped} on the test split")
        )
    return verdicts


def quality_resolution_warning(evaluation: dict, gate: QualityGate) -> str | None:
    """A warning when the test split is too small for the quality gate's `max_drop` to mean anything: the shipped
    model's recorded 95% interval is wider than the bound."""
    m = evaluation["models"][evaluation["shipped"]][gate.metric]
    if m.get("low") is None or gate.max_drop is None:
        return None
    half = (m["high"] - m["low"]) / 2
    if half <= gate.max_drop:
        return None
    return (
        f"the test split has {evaluation['n']} examples: {gate.metric}'s 95% interval is ±{half * 100:.1f} points, "
        f"wider than the {gate.metric} gate's {gate.max_drop * 100:.1f} points, so the gate cannot tell a real "
        "drop from noise"
    )


def ratio_to_pytorch(benchmark: dict, row: dict, name: str) -> dict | None:
    """`name`'s p50 over the PyTorch teacher's in one thread count's `row`: {"ratio", "low", "high"}, paired within
    each round when the benchmark recorded that against PyTorch, else the two p50s' ratio with no interval (runs
    recorded before pairing). None without a PyTorch row."""
    if "teacher-pytorch" not in row:
        return None
    paired = row[name].get("x_anchor") if benchmark.get("anchor") == "teacher-pytorch" else None
    if paired:
        return paired
    return {"ratio": round(row[name]["p50_ms"] / row["teacher-pytorch"]["p50_ms"], 4), "low": None, "high": None}


PEER_GATED = ("seq", "real_b1")  # the workloads a gate against a peer judges: the fixed input, real sentences


def _peer_ratios(benchmark: dict, shipped: str, peer: str, threads: int, bound: float) -> list[Verdict]:
    """One verdict per gated workload: the shipped model's time over the peer's, paired per round."""
    timed = benchmark.get("vs_peers", {}).get(str(threads), {}).get(peer)
    if timed is None:
        detail = f"no timing against {peer} at {threads} threads: add it to benchmark.peers and re-run --from evaluate"
        return [Verdict(f"latency-vs-{peer}", "fail", float("inf"), bound, f"x {peer}", detail)]
    verdicts = []
    for workload, r in timed.items():
        if not workload.startswith(PEER_GATED):
            continue
        status: Status = "pass" if r["high"] <= bound else "fail" if r["low"] > bound else "inconclusive"
        fixed = workload.startswith("seq")
        what = f"batch {benchmark['batch']}, seq {benchmark['seq']}" if fixed else "batch 1, real test sentences"
        detail = f"{shipped} / {peer}, paired per round, geometric mean, {what}, {threads} threads"
        detail += f" ({1 / r['ratio']:.2f}x faster)"
        gate = f"latency-vs-{peer}-{workload}"
        verdicts.append(Verdict(gate, status, r["ratio"], bound, f"x {peer}", detail, r["low"], r["high"]))
    return verdicts


def _latency_ratio(benchmark: dict, row: dict, shipped: str, bound: float, setting: str) -> Verdict:
    r = ratio_to_pytorch(benchmark, row, shipped)
    if r["low"] is not None:
        status: Status = "pass" if r["high"] <= bound else "fail" if r["low"] > bound else "inconclusive"
        how = "paired per round, geometric mean"
    else:
        status, how = _ok(r["ratio"] <= bound), "ratio of p50s in the same run"
    detail = f"{shipped} / PyTorch FP32 teacher, {how}, {setting}"
    if status == "inconclusive":
        detail += "; the interval straddles the bound: re-time with --from benchmark, or raise benchmark.iterations"
    if status != "pass" and (benchmark.get("host") or {}).get("int8_dot") == []:
        detail += (
            "; this CPU has no INT8 dot-product instructions (VNNI), so INT8 gains little over FP32 here: "
            "gate on the CPU you deploy to, or try quantize.mode: auto"
        )
    return Verdict("latency-ratio", status, r["ratio"], bound, "x teacher", detail, r["low"], r["high"])
