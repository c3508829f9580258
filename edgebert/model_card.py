"""dist/README.md: a model card in the Hugging Face format, so a dist folder can be published to a model hub as
it is. A YAML metadata block (library, pipeline tag, tags, base model when the teacher is a hub id, the test
metrics as a model-index), then what the model is, how it was made, its figures and how to load it. It reads
the manifest and measures nothing.
"""

from __future__ import annotations

import re

import yaml

CARD = "README.md"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def render(manifest: dict) -> str:
    recipe, task, metrics = manifest["recipe"], manifest["task"], manifest["metrics"]
    teacher = recipe["teacher"]["model"]
    meta = {
        "library_name": "onnx",
        "pipeline_tag": task["name"],
        "tags": ["edgebert", "onnx", task["name"], *_quantization_tags(manifest)],
        **({"base_model": teacher} if HUB_ID.match(teacher) else {}),
        "model-index": [
            {
                "name": manifest["name"],
                "results": [
                    {
                        "task": {"type": task["name"]},
                        "dataset": {"name": str(metrics["split"]), "type": str(metrics["split"])},
                        "metrics": [
                            {"type": name, "value": round(m["value"], 4), "name": f"test {name} (ONNX Runtime)"}
                            for name, m in metrics["shipped"].items()
                        ],
                    }
                ],
            }
        ],
    }
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {manifest['name']}",
        "",
        f"A {task['name']} model in ONNX, made by [edgebert](https://pypi.org/project/edgebert/) from the teacher "
        f"`{teacher}`: {_how(recipe, manifest)}. It runs with ONNX Runtime alone; the tokenizer is `tokenizer.json`.",
        "",
        "## Figures",
        "",
        f"Measured on {metrics['n']} test examples ({metrics['split']}) through ONNX Runtime, with 95% intervals:",
        "",
        "| model | " + " | ".join(metrics["shipped"]) + " |",
        "|---|" + "---|" * len(metrics["shipped"]),
        "| this model | " + " | ".join(_value(m) for m in metrics["shipped"].values()) + " |",
        "| teacher (ONNX FP32) | " + " | ".join(_value(metrics["teacher"].get(n)) for n in metrics["shipped"]) + " |",
        "",
        _latency(manifest["latency"]),
        "",
        "## Load it",
        "",
        "```python",
        "from edgebert.runtime import load      # pip install edgebert (onnxruntime, tokenizers, numpy; no torch)",
        'model = load("path/to/this/folder")    # checks every file against edgebert.json',
        'model.predict(["some text"])',
        "```",
        "",
        f"From any language: ONNX Runtime with inputs {', '.join(task['inputs'])} (int64, from `tokenizer.json`, "
        f"at most {task['max_length']} tokens) and outputs {', '.join(task['outputs'])}"
        + (f"; labels in order: {', '.join(map(str, task['labels']))}." if task.get("labels") else "."),
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        *[f"| {name} | {e['bytes']:,} | `{e['sha256'][:16]}…` |" for name, e in manifest["files"].items()],
        "",
        "`edgebert.json` holds every figure above, the recipe, library versions and the sha256 of each file.",
        "",
    ]
    return "\n".join(lines)


def _quantization_tags(manifest: dict) -> list[str]:
    mode = manifest.get("quantization", {}).get("mode")
    return {"dynamic": ["int8"], "static": ["int8"], "fp16": ["fp16"]}.get(mode, [])


def _how(recipe: dict, manifest: dict) -> str:
    steps = []
    if recipe["teacher"].get("finetune"):
        steps.append("the teacher fine-tuned")
    if recipe.get("distill"):
        layers = recipe["distill"].get("layers")
        n = len(layers) if layers else recipe["distill"].get("num_layers")
        steps.append(f"distilled into a {n}-layer student" + (f" (teacher layers {layers})" if layers else ""))
    if recipe.get("prune"):
        steps.append("pruned (attention heads and FFN neurons removed) and recovered by distillation")
    mode = manifest.get("quantization", {}).get("mode", "none")
    steps.append({"none": "exported in FP32"}.get(mode, f"exported and quantized ({mode})"))
    return ", ".join(steps)


def _value(metric: dict | None) -> str:
    if not metric:
        return "—"
    interval = f" ({metric['low'] * 100:.1f}–{metric['high'] * 100:.1f})" if metric.get("low") is not None else ""
    return f"{metric['value'] * 100:.2f}{interval}"


def _latency(latency: dict) -> str:
    return (
        f"Latency at batch {latency['batch']}, sequence length {latency['seq']}, {latency['threads']} threads: "
        f"p50 {latency['p50_ms']:.2f} ms on {latency['machine']} (one machine, one run: time it on yours with "
        "`edgebert bench`)."
    )
