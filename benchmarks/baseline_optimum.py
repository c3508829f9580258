"""The number to beat: the same teacher exported and dynamically INT8-quantized with Optimum (its avx512_vnni
preset), timed in the same process as edgebert's shipped model and the PyTorch FP32 teacher.

    python benchmarks/baseline_optimum.py recipes/sst2-minilm.yaml --repeats 5

Reads a finished run (runs/<name>/teacher and runs/<name>/dist), builds the Optimum baseline under
runs/<name>/baselines/, evaluates it on the recipe's test split through ONNX Runtime, then repeats the
interleaved timing `--repeats` times and prints each repeat's p50s and the median ratios (JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from edgebert.data import load_data
from edgebert.evaluate import classification_metrics
from edgebert.recipe import load_recipe
from edgebert.runtime import TextClassifier, load, make_session
from edgebert.timing.bench import fixed_input, onnx_runner, time_interleaved, torch_runner, torch_threads


def build_optimum_int8(teacher_dir: Path, out: Path) -> Path:
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    target = out / "model_quantized.onnx"
    if not target.is_file():
        main_export(str(teacher_dir), output=out, task="text-classification", opset=17, do_validation=False)
        config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)
        ORTQuantizer.from_pretrained(out).quantize(config, save_dir=out)
    return target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    run = args.runs_dir / recipe.name
    data = load_data(recipe.data, recipe.path)
    baseline = build_optimum_int8(run / "teacher", run / "baselines" / "optimum-int8")
    labels = list(data.labels)
    tokenizer = run / "teacher" / "tokenizer.json"
    shipped = load(run / "dist", threads=args.threads)
    optimum = TextClassifier.from_files(baseline, tokenizer, labels, recipe.data.max_length, threads=args.threads)
    y = data.label_ids(data.test)
    accuracy = {
        name: classification_metrics(clf.logits(data.test.texts), y, len(labels))["accuracy"]
        for name, clf in (("optimum-int8", optimum), ("edgebert-dist", shipped))
    }

    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(run / "teacher", use_safetensors=True).eval()
    encoder = TextClassifier.from_files(baseline, tokenizer, labels, max(recipe.data.max_length, 128))
    feeds = fixed_input(encoder.encode, data.test.texts, 1, 128)
    runners = {
        "teacher-pytorch": torch_runner(teacher),
        "optimum-int8": onnx_runner(make_session(baseline, args.threads)),
        "edgebert-dist": onnx_runner(make_session(run / "dist" / "model.onnx", args.threads)),
    }
    repeats = []
    with torch_threads(args.threads):
        for _ in range(args.repeats):
            t = time_interleaved(runners, feeds, warmup=10, iterations=args.iterations)
            repeats.append({name: v["p50_ms"] for name, v in t.items()})
    ratio = lambda a, b: statistics.median(r[a] / r[b] for r in repeats)  # noqa: E731
    print(
        json.dumps(
            {
                "threads": args.threads,
                "batch": 1,
                "seq": 128,
                "iterations_per_repeat": args.iterations,
                "accuracy": accuracy,
                "p50_ms_per_repeat": repeats,
                "median_p50_ms": {n: statistics.median(r[n] for r in repeats) for n in runners},
                "median_speedup_vs_pytorch": {n: round(ratio("teacher-pytorch", n), 2) for n in runners},
                "median_speedup_vs_optimum_int8": round(ratio("optimum-int8", "edgebert-dist"), 2),
                "file_mb": {
                    "optimum-int8": round(baseline.stat().st_size / 1e6, 2),
                    "edgebert-dist": round((run / "dist" / "model.onnx").stat().st_size / 1e6, 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
