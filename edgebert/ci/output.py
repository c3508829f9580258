"""Renderings of a CheckReport for people and CI systems: a terminal table, JSON, JUnit XML (one test case per
budget; fail -> <failure>, inconclusive -> <skipped> with the interval) and Markdown (also appended to
$GITHUB_STEP_SUMMARY when set). It measures and decides nothing.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from edgebert.ci.check import CheckReport
from edgebert.gates import Verdict
from edgebert.timing import machine

ICON = {"pass": "✅ pass", "fail": "❌ FAIL", "inconclusive": "⚠️ inconclusive"}


def _measured(r: Verdict) -> str:
    interval = f" [{r.low:g}, {r.high:g}]" if r.low is not None else ""
    return f"{r.measured:g}{interval}"


def _bound(r: Verdict) -> str:
    op = "≥" if "min" in r.unit or r.unit == "points" else "≤"
    return f"{op} {r.bound:g} {r.unit.replace(' (min)', '')}"


def rows(report: CheckReport) -> list[list[str]]:
    return [[r.gate, ICON[r.status], _measured(r), _bound(r), r.detail] for r in report.results]


def print_table(report: CheckReport, console) -> None:
    from rich.table import Table

    table = Table(title=f"edgebert check: {report.candidate}", title_justify="left")
    for col in ("budget", "verdict", "measured [interval]", "bound", "how"):
        table.add_column(col)
    for row in rows(report):
        table.add_row(*row)
    console.print(table)
    console.print(f"verdict: {report.status} (exit {report.exit_code})")


def to_json(report: CheckReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def to_markdown(report: CheckReport) -> str:
    lines = [
        f"### edgebert check: {ICON[report.status]}",
        "",
        f"Candidate `{report.candidate}`.",
        "",
        "| budget | verdict | measured [interval] | bound | how |",
        "|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows(report)],
    ]
    latency = report.measurements.get("latency", {}).get("runs", {})
    if latency:
        host = machine.summary(report.measurements["latency"]["host"])
        lines += ["", f"p50 ms [interval] per model, on {host}:", ""]
        for where, run in latency.items():
            cells = ", ".join(f"{k} {v['ms']:g} [{v['low']:g}, {v['high']:g}]" for k, v in run.items() if "ms" in v)
            lines.append(f"- {where}: {cells}")
    return "\n".join(lines) + "\n"


def write_junit(report: CheckReport, path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="edgebert check",
        tests=str(len(report.results)),
        failures=str(sum(r.status == "fail" for r in report.results)),
        skipped=str(sum(r.status == "inconclusive" for r in report.results)),
        errors="0",
    )
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname="edgebert.check", name=r.gate)
        message = f"measured {_measured(r)}, bound {_bound(r)} ({r.detail})"
        if r.status == "fail":
            ET.SubElement(case, "failure", message=message, type="budget").text = message
        elif r.status == "inconclusive":
            ET.SubElement(case, "skipped", message=f"inconclusive: the interval straddles the bound; {message}")
        ET.SubElement(case, "system-out").text = message
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def append_github_summary(report: CheckReport) -> Path | None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as f:
        f.write(to_markdown(report) + "\n")
    return Path(target)
