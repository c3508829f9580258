"""Budgets -> verdicts. A failed gate is a failure (exit code 3 from the CLI), never a warning.

Inputs are the evaluate and benchmark summaries the pipeline recorded; nothing is measured here.

    >>> check_gates(GatesConfig(size=SizeGate(max_mb=8)), metrics, timings, sizes)
    [Verdict(gate='size', passed=False, measured=17.4, bound=8.0, unit='MB', detail='student INT8 file')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgebert.recipe import GatesConfig


@dataclass(frozen=True)
class Verdict:
    gate: str
    passed: bool
    measured: float
    bound: float
    unit: str
    detail: str

    def line(self) -> str:
        word = "pass" if self.passed else "FAIL"
        return f"{word}  {self.gate}: {self.measured:g} {self.unit} (bound {self.bound:g} {self.unit}; {self.detail})"

    def as_dict(self) -> dict:
        return asdict(self)


def check_gates(
    gates: GatesConfig, evaluation: dict, benchmark: dict, shipped_mb: float, mobile: tuple[str, dict] | None = None
) -> list[Verdict]:
    """Evaluate each configured gate on the shipped model (the last model in the evaluation/benchmark tables);
    `mobile` is (which model, its usability analysis) for the mobile gate."""
    verdicts = []
    shipped = evaluation["shipped"]
    if gates.accuracy is not None:
        teacher = evaluation["models"]["teacher"]["accuracy"]["value"]
        student = evaluation["models"][shipped]["accuracy"]["value"]
        drop = round((teacher - student) * 100, 2)
        verdicts.append(
            Verdict(
                "accuracy",
                drop <= gates.accuracy.max_drop * 100,
                drop,
                gates.accuracy.max_drop * 100,
                "points drop",
                f"{shipped} {student:.4f} vs teacher {teacher:.4f}, both ONNX on the test split",
            )
        )
    if gates.latency is not None:
        lat = gates.latency
        row = benchmark["fixed"][str(lat.threads)]
        setting = f"batch {benchmark['batch']}, seq {benchmark['seq']}, {lat.threads} threads"
        if lat.p90_ms is not None:
            p90 = row[shipped]["p90_ms"]
            verdicts.append(Verdict("latency", p90 <= lat.p90_ms, p90, lat.p90_ms, "ms p90", f"{shipped}, {setting}"))
        if lat.max_ratio is not None:
            ratio = round(row[shipped]["p50_ms"] / row["teacher-pytorch"]["p50_ms"], 4)
            verdicts.append(
                Verdict(
                    "latency-ratio",
                    ratio <= lat.max_ratio,
                    ratio,
                    lat.max_ratio,
                    "x teacher",
                    f"p50 of {shipped} / PyTorch FP32 teacher in the same run, {setting}",
                )
            )
    if gates.size is not None:
        verdicts.append(
            Verdict(
                "size",
                shipped_mb <= gates.size.max_mb,
                round(shipped_mb, 2),
                gates.size.max_mb,
                "MB",
                f"{shipped} model file",
            )
        )
    if gates.mobile is not None and mobile is not None:
        g, (which, usability) = gates.mobile, mobile
        r = usability[g.ep]["as_is"]
        verdicts.append(
            Verdict(
                "mobile",
                r["supported_share"] >= g.min_share and r["partitions"] <= g.max_partitions,
                round(r["supported_share"] * 100, 1),
                g.min_share * 100,
                f"% of nodes on {g.ep}",
                f"{which}: {r['partitions']} partition(s), at most {g.max_partitions} allowed; "
                f"unsupported: {', '.join(r['unsupported_ops']) or 'none'}",
            )
        )
    return verdicts
