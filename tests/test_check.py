"""`edgebert check`: budgets parsing, verdicts (pass, fail, inconclusive), outputs CI systems read, usage errors."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from edgebert.ci.budgets import BudgetsError, parse_budgets, parse_ratio
from edgebert.cli import main

from .conftest import DEMO


@pytest.fixture(scope="module")
def dists(compressed):
    """The tiny pipeline's dist (1-layer INT8 student) and its 2-layer FP32 teacher export as a reference."""
    folder, _, _ = compressed
    run = folder / "runs" / "tiny"
    return run / "dist", run / "export" / "teacher" / "model.onnx", folder


def _budgets(folder, text: str):
    path = folder / "budgets.yaml"
    path.write_text(text)
    return str(path)


def _check(dist, budgets, *args):
    return CliRunner().invoke(main, ["check", str(dist), "--budgets", budgets, *args])


def test_units_and_relative_bounds_parse():
    b = parse_budgets(
        {"budgets": {"size": "512 KiB", "accuracy": "87%", "p50": "2 s", "latency_vs_baseline": "+5%"}}
    ).budgets
    assert b.size == pytest.approx(0.524288) and b.accuracy == 0.87 and b.p50 == 2000 and b.latency_vs_baseline == 1.05
    assert parse_ratio("0.25x", "f") == 0.25 and parse_ratio("-10%", "f") == pytest.approx(0.9)
    with pytest.raises(BudgetsError, match=r"budgets.size: unit in '25 MBs' not understood"):
        parse_budgets({"budgets": {"size": "25 MBs"}})
    with pytest.raises(BudgetsError, match="did you mean budgets.'latency_vs_baseline'"):
        parse_budgets({"budgets": {"latency_vs_basline": "+5%"}})
    with pytest.raises(BudgetsError, match="did you mean timing.'rounds'"):
        parse_budgets({"budgets": {"size": 1}, "timing": {"round": 3}})


def test_pass_and_fail_with_json_junit_and_markdown(dists, tmp_path, monkeypatch):
    from junitparser import JUnitXml

    dist, reference, folder = dists
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    budgets = _budgets(
        tmp_path,
        "timing: {threads: [1], seq: 32, rounds: 10, calls: 5, settle_ms: 0, warmup: 5}\n"
        "budgets:\n  size: 50 MB\n  size_vs_baseline: +0%\n  accuracy: 1%\n  accuracy_vs_baseline: -0 points\n"
        "  latency_vs_reference: 5x\n  fusions: {DynamicQuantizeMatMul: 1}\n",
    )
    out = _check(dist, budgets, "--baseline", str(dist), "--reference", str(reference), "--data",
                 str(DEMO / "test.tsv"), "--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "m.md"),
                 "--json")  # fmt: skip
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["status"] == "pass" and len(report["results"]) == 6
    assert report["measurements"]["accuracy"]["candidate"]["n"] == 50
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "j.xml"))))
    assert suite.tests == 6 and suite.failures == 0
    assert "✅ pass" in (tmp_path / "m.md").read_text() and "edgebert check" in summary.read_text()
    host = report["measurements"]["latency"]["host"]  # latency depends on the CPU: the report names it
    assert f"on {host['cpu']}, {host['cores']} cores, INT8 dot product: " in (tmp_path / "m.md").read_text()

    failing = _budgets(tmp_path, "budgets:\n  size: 0.01 MB\n  accuracy: 100%\n  fusions: {Attention: 5}\n")
    out = _check(dist, failing, "--junit", str(tmp_path / "f.xml"))
    assert out.exit_code == 3, out.output
    assert "FAIL" in out.output and "recorded in the manifest" in out.output
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "f.xml"))))
    assert suite.tests == 3 and suite.failures == 3


def test_latency_verdicts_pass_fail_and_inconclusive(dists, tmp_path, monkeypatch):
    dist, reference, _ = dists
    # seq 64 is longer than the recipe's max_length (32): timing must not truncate the fixed input
    timing = "timing: {threads: [1], seq: 64, rounds: 10, calls: 5, settle_ms: 0, warmup: 5}\n"
    slow = _budgets(tmp_path, timing + "budgets: {latency_vs_reference: 0.01x}\n")
    out = _check(dist, slow, "--reference", str(reference))
    assert out.exit_code == 3 and "latency_vs_reference" in out.output

    import edgebert.timing.bench

    def noisy(runners, feeds, warmup, rounds, calls, settle_s):  # candidate 1.0 ± 0.3 ms vs reference 1.0 ms
        return {
            name: [[1.0 + (0.3 if (r % 2 and name == "candidate") else -0.3 if name == "candidate" else 0)] * calls
                   for r in range(rounds)]
            for name in runners
        }  # fmt: skip

    monkeypatch.setattr(edgebert.timing.bench, "paired_rounds", noisy)
    even = _budgets(tmp_path, timing + "budgets: {latency_vs_reference: 1.0x}\n")
    out = _check(dist, even, "--reference", str(reference), "--junit", str(tmp_path / "i.xml"))
    assert out.exit_code == 5, out.output
    assert "inconclusive" in out.output and "<skipped" in (tmp_path / "i.xml").read_text()


def test_usage_errors_exit_2_with_a_clear_message(dists, tmp_path):
    dist, _, _ = dists
    relative = _budgets(tmp_path, "budgets: {latency_vs_baseline: +5%}\n")
    out = _check(dist, relative)
    assert out.exit_code == 2 and "pass --baseline PATH" in out.output
    out = _check(dist, relative, "--baseline", str(tmp_path / "nowhere"))
    assert out.exit_code == 2 and "--baseline" in out.output and "not found" in out.output
    unknown = _budgets(tmp_path, "budgets: {size: 3 parsecs}\n")
    out = _check(dist, unknown)
    assert out.exit_code == 2 and "unit" in out.output and "parsecs" in out.output
    broken = tmp_path / "broken"
    shutil.copytree(dist, broken)
    (broken / "model.onnx").write_bytes(b"not a model")
    out = _check(broken, _budgets(tmp_path, "budgets: {size: 5 MB}\n"))
    assert out.exit_code == 2 and "does not match its manifest" in out.output
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        out = _check(dist, _budgets(tmp_path, "budgets: {p50: 5 ms}\ntiming: {providers: [cuda]}\n"))
        assert out.exit_code == 2 and "cuda (CUDAExecutionProvider) is not available" in out.output


def test_check_runs_without_torch(dists, tmp_path):
    """CI jobs that only check a model install the base package: check must never import torch."""
    import subprocess
    import sys

    dist, reference, _ = dists
    budgets = _budgets(
        tmp_path, "timing: {threads: [1], seq: 32, rounds: 5, calls: 2, settle_ms: 0}\nbudgets: {p50: 10 s}\n"
    )
    code = (
        "import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"
        "from edgebert.cli import main\n"
        f"main(['check', {str(dist)!r}, '--budgets', {budgets!r}, '--reference', {str(reference)!r},"
        f" '--data', {str(DEMO / 'test.tsv')!r}, '--json'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["status"] == "pass"
