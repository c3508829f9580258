"""The distill stage with the teacher's outputs cached (distill.teacher_cache_gb, the default) and recomputed every
epoch (teacher_cache_gb: 0), one after the other on the same machine, from a run whose teacher stage is done:
stage time and dev score of each.

    python benchmarks/teacher_cache.py recipes/conll03-minilm.yaml --set distill.max_train_samples=3000

Prints one JSON object; the distilled students are written to a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    from edgebert.pipeline import context, plan
    from edgebert.recipe import load_recipe
    from edgebert.stages.distill import run_distill
    from edgebert.timing.machine import describe

    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = ap.parse_args()

    recipe = load_recipe(args.recipe, args.overrides)
    ctx = context(recipe, args.runs_dir)
    plan(ctx)
    if not ctx.run.done("teacher", ctx.keys["teacher"]):
        raise SystemExit(f"{ctx.dir('teacher')}: run `edgebert compress {args.recipe}` up to the teacher stage first")
    results = {"host": describe(), "python": platform.python_version(), "recipe": str(args.recipe), "runs": {}}
    for label, gb in (("recomputed", 0.0), ("cached", recipe.distill.teacher_cache_gb or 4.0)):
        cfg = recipe.distill.model_copy(update={"teacher_cache_gb": gb})
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            summary = run_distill(ctx.task, cfg, ctx.data, ctx.teacher_dir, Path(out), ctx)
            seconds = time.perf_counter() - started
        results["runs"][label] = {
            "seconds": round(seconds, 1),
            ctx.dev_metric: summary[ctx.dev_metric],
            "best_epoch": summary["best_epoch"],
            "teacher_cache": summary["teacher_cache"],
        }
        print(json.dumps({label: results["runs"][label]}), flush=True)
    runs = results["runs"]
    results["speedup"] = round(runs["recomputed"]["seconds"] / runs["cached"]["seconds"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
