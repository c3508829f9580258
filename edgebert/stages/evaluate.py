"""Evaluate stage: the task's metrics (95% intervals) for every ONNX model on the test split, through ONNX
Runtime, plus the PyTorch FP32 teacher as the reference. It does not time anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

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


def run_evaluate(task: ModuleType, models: Models, data, max_length: int, ctx, batch_size: int = 32) -> dict:
    """`ctx` gives the model options and the reporter."""
    reporter: Reporter = ctx.reporter
    split = data.test
    outputs = {"teacher-pytorch": _pytorch_outputs(task, models.teacher_dir, split, max_length, ctx)}
    predictors = {}
    for name, path in models.onnx.items():
        predictors[name] = task.onnx_predictor(path, models.tokenizer(name), data, max_length)
        outputs[name] = task.onnx_outputs(
            predictors[name], split, batch_size, lambda c, n=name: reporter.track(c, f"evaluate {n}")
        )
    results = {name: task.metrics(out, split, data, 0) for name, out in outputs.items()}
    compare = getattr(task, "compare_to_teacher", None)  # a task's figures against the teacher (embeddings)
    if compare is not None:
        for name, figures in compare(predictors, outputs, data, reporter.track).items():
            results[name]["vs_teacher"] = figures
    return {
        "split": split.origin,
        "n": len(split),
        "primary_metric": task.PRIMARY_METRIC,
        "models": results,
        "shipped": models.shipped,
        "agreement_with_teacher": {
            name: round(task.agreement(out, outputs["teacher"]), 4) for name, out in outputs.items()
        },
    }


def _pytorch_outputs(task: ModuleType, model_dir: Path, split, max_length: int, ctx) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = task.load_model(model_dir, ctx.model_options).eval()
    track = lambda chunks: ctx.reporter.track(chunks, "evaluate teacher-pytorch")  # noqa: E731
    return task.torch_outputs(model, tokenizer, split, max_length, track=track)
