"""Quantization-aware recovery, measured: distil a finished run's pruned student from its teacher once more with
ONNX Runtime's dynamic INT8 simulated in the forward pass (edgebert.quantization.aware), then trim, export, fuse
and quantize it as the pipeline does, and score it beside the run's own student quantized the same way, on the
test and eval splits, with how many predictions each INT8 file changes against the run's FP32 student.
Text classification only.

    python benchmarks/quantization_aware.py recipes/sst2-minilm.yaml --runs-dir runs --samples 20000 --lr 2e-5

Needs the run's prune and export stages done. Prints one JSON object; the models go to --out (a temporary
folder if not given).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--samples", type=int, default=20000, help="train sentences the recovery sees")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--per-tensor", action="store_true", help="simulate per-tensor weights (default per channel)")
    ap.add_argument("--bits", type=int, choices=[7, 8], default=7, help="7: ORT's reduce_range")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.out:
        run(args, args.out)
    else:
        with tempfile.TemporaryDirectory() as out:
            run(args, Path(out))


def run(args, out: Path) -> None:
    from transformers import AutoTokenizer

    from edgebert.graph.vocab import trim_model
    from edgebert.pipeline import context, plan
    from edgebert.pipeline.steps import vocabulary_corpus
    from edgebert.progress import Reporter
    from edgebert.pruning.surgery import kept_heads
    from edgebert.quantization.aware import simulated
    from edgebert.quantization.schemes import build
    from edgebert.recipe import QuantScheme, load_recipe
    from edgebert.stages.distill import teacher_loss, training_set
    from edgebert.stages.export import export_onnx, fuse
    from edgebert.timing.machine import describe
    from edgebert.training.loop import Splits, fit

    recipe = load_recipe(args.recipe, args.overrides)
    ctx = context(recipe, args.runs_dir)
    plan(ctx)
    for stage in ("prune", "export"):
        if not ctx.run.done(stage, ctx.keys[stage]):
            raise SystemExit(f"{ctx.dir(stage)}: run `edgebert compress {args.recipe}` through {stage} first")
    if not recipe.distill:
        raise SystemExit("this probe needs a distilled student (the recipe's distill section)")
    if ctx.task.NAME != "text-classification":
        raise SystemExit(f"{ctx.task.NAME}: this probe scores text classification only")
    # the run's recovery settings, shorter and gentler (a copy: the recipe's keys stay those of the finished run)
    cfg = recipe.prune.recover.model_copy(update={"lr": args.lr, "max_train_samples": args.samples, "epochs": 1})
    task, data = ctx.task, ctx.data
    per_channel, reduce_range = not args.per_tensor, args.bits == 7
    attention = cfg.losses.attention > 0
    teacher = task.load_model(ctx.teacher_dir, ctx.model_options, eager_attention=attention).eval()
    student = task.load_model(ctx.dir("prune"), ctx.model_options, eager_attention=attention)
    tokenizer = AutoTokenizer.from_pretrained(ctx.dir("prune"))
    dev = task.encode(tokenizer, data.eval, data, recipe.data.max_length)
    train = training_set(task, tokenizer, data, cfg, ctx, "prune.recover")
    layers = ctx.records.distill.layers
    started = time.perf_counter()
    with simulated(student, per_channel=per_channel, fused=True, reduce_range=reduce_range):
        before = task.dev_score(student, dev, tokenizer)
        step_loss = teacher_loss(task, teacher, layers, cfg, kept_heads(student))
        fit(student, Splits(train, dev, tokenizer, task), cfg, step_loss, Reporter(), "quantization-aware recovery")
        after = task.dev_score(student, dev, tokenizer)
    seconds = time.perf_counter() - started
    student.config._attn_implementation = None
    student.save_pretrained(out / "hf", safe_serialization=True)
    tokenizer.save_pretrained(out / "hf")
    trim_model(task, out / "hf", out / "trimmed", vocabulary_corpus(ctx), ctx.model_options)
    plain = export_onnx(out / "trimmed", out / "onnx", recipe.export.opset, task)
    fuse(plain, out / "onnx" / "model.fused.onnx", 0, 0)

    scheme = QuantScheme(mode="dynamic", per_channel=per_channel, reduce_range=reduce_range)
    run_fp32, aware_fp32 = ctx.dir("export") / "student" / "model.fused.onnx", out / "onnx" / "model.fused.onnx"
    build(scheme, run_fp32, out / "run-int8.onnx")
    build(scheme, aware_fp32, out / "aware-int8.onnx")
    run_tokenizer, aware_tokenizer = ctx.dir("dist") / "tokenizer.json", out / "trimmed" / "tokenizer.json"
    models = {
        "run fp32": (run_fp32, run_tokenizer),
        "run int8": (out / "run-int8.onnx", run_tokenizer),
        "aware fp32": (aware_fp32, aware_tokenizer),
        "aware int8": (out / "aware-int8.onnx", aware_tokenizer),
    }
    scores = score(models, data, recipe.data.max_length)
    print(
        json.dumps(
            {
                "host": describe(),
                "recipe": str(args.recipe),
                "simulated": {"per_channel": per_channel, "weight_bits": args.bits, "fused": True},
                "recovery": {"sentences": len(train), "lr": args.lr, "seconds": round(seconds)},
                "eval_simulated_int8": {"before": round(before * 100, 2), "after": round(after * 100, 2)},
                "scores": scores,
            },
            indent=2,
        )
    )


def score(models: dict, data, max_length: int) -> dict:
    """Accuracy on test and eval, and predictions changed against the run's FP32 student (how many, how many of
    them now wrong)."""
    import numpy as np

    from edgebert.runtime import TextClassifier

    found, reference = {}, {}
    for name, (model, tokenizer) in models.items():
        clf = TextClassifier.from_files(model, tokenizer, list(data.labels), max_length, 2)
        found[name] = {"mb": round(model.stat().st_size / 1e6, 2)}
        for key, split in (("test", data.test), ("eval", data.eval)):
            truth = np.asarray(data.label_ids(split))
            predicted = clf.logits(split.texts).argmax(1)
            base = reference.setdefault(key, predicted)
            found[name][key] = {
                "accuracy": round(float((predicted == truth).mean()) * 100, 2),
                "changed": int((predicted != base).sum()),
                "changed_to_wrong": int(((predicted != truth) & (base == truth)).sum()),
            }
    return found


if __name__ == "__main__":
    main()
