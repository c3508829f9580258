"""Evaluate stage: the task's metrics (95% intervals) for every ONNX model on the test split, through ONNX
Runtime, plus the PyTorch FP32 teacher as the reference. It does not time anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from edgebert.data import Dataset
from edgebert.progress import Reporter


@dataclass(frozen=True)
class Models:
    """The ONNX models to score by name, which one ships, and each model's own tokenizer where it has one
    (a trimmed vocabulary); the others read the teacher's."""

    onnx: dict[str, Path]
    shipped: str
    teacher_dir: Path
    tokenizers: dict[str, Path] = field(default_factory=dict)

    def tokenizer(self, name: str) -> Path:
        return self.tokenizers.get(name, self.teacher_dir / "tokenizer.json")


def run_evaluate(task: ModuleType, models: Models, data: Dataset, max_length: int, ctx, batch_size: int = 32) -> dict:
    """`ctx` gives the model options and the reporter."""
    reporter: Reporter = ctx.reporter
    texts = data.test.texts
    chunks = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    outputs = {"teacher-pytorch": _pytorch_outputs(task, models.teacher_dir, chunks, max_length, ctx)}
    for name, path in models.onnx.items():
        predictor = task.onnx_predictor(path, models.tokenizer(name), data, max_length)
        parts = [predictor.outputs(c, batch_size) for c in reporter.track(chunks, f"evaluate {name}")]
        outputs[name] = _join(parts)
    results = {name: task.metrics(out, data.test, data, 0) for name, out in outputs.items()}
    return {
        "split": data.test.origin,
        "n": len(texts),
        "primary_metric": task.PRIMARY_METRIC,
        "models": results,
        "shipped": models.shipped,
        "agreement_with_teacher": {
            name: round(task.agreement(out, outputs["teacher"]), 4) for name, out in outputs.items()
        },
    }


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _pytorch_outputs(task: ModuleType, model_dir: Path, chunks: list[list[str]], max_length: int, ctx) -> dict:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = task.load_model(model_dir, ctx.model_options).eval()
    parts = []
    with torch.inference_mode():
        for chunk in ctx.reporter.track(chunks, "evaluate teacher-pytorch"):
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
            parts.append(task.pytorch_outputs(model, {k: v.astype(np.int64) for k, v in enc.items()}))
    return _join(parts)
