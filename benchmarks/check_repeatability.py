"""How steady are `edgebert check`'s latency verdicts? Runs the real CLI N times (fresh process each) on:

  1. FAST vs SLOW with a relative budget (+10%), both ways: FAST as candidate must pass, SLOW must fail;
  2. FAST vs a byte-identical copy of FAST with a +10% budget: must never fail.

Prints each run's ratio, interval and verdict, and the spread. Usage:

    python benchmarks/check_repeatability.py FAST_DIST SLOW_DIST [--runs 10] [--threads 2] [--rounds 60]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def check(candidate: Path, baseline: Path, budgets: Path) -> dict:
    cmd = [sys.executable, "-m", "edgebert.cli", "check", str(candidate), "--baseline", str(baseline)]
    out = subprocess.run([*cmd, "--budgets", str(budgets), "--json"], capture_output=True, text=True)
    if out.returncode not in (0, 3, 5):
        raise SystemExit(out.stderr)
    report = json.loads(out.stdout)
    result = next(r for r in report["results"] if r["budget"].startswith("latency_vs_baseline"))
    return {"status": report["status"], "ratio": result["measured"], "low": result["low"], "high": result["high"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fast", type=Path)
    ap.add_argument("slow", type=Path)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    copy = work / "fast-copy"
    shutil.copytree(args.fast, copy)
    budgets = work / "budgets.yaml"
    timing = f"timing: {{threads: [{args.threads}], rounds: {args.rounds}}}\n"
    budgets.write_text(timing + "budgets: {latency_vs_baseline: +10%}\n")
    cases = {
        "fast vs slow (+10%, expect pass)": (args.fast, args.slow, "pass"),
        "slow vs fast (+10%, expect fail)": (args.slow, args.fast, "fail"),
        "fast vs its copy (+10%, never fail)": (args.fast, copy, "not fail"),
    }
    for name, (cand, base, expect) in cases.items():
        runs = [check(cand, base, budgets) for _ in range(args.runs)]
        ok = sum((r["status"] != "fail") if expect == "not fail" else (r["status"] == expect) for r in runs)
        ratios = [r["ratio"] for r in runs]
        print(f"\n{name}: {ok}/{len(runs)} as expected")
        for r in runs:
            print(f"  ratio {r['ratio']:.4f} [{r['low']:.4f}, {r['high']:.4f}] {r['status']}")
        print(
            f"  ratios: median {statistics.median(ratios):.4f}, min {min(ratios):.4f}, max {max(ratios):.4f}; "
            f"widest interval {max(r['high'] - r['low'] for r in runs):.4f}"
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
