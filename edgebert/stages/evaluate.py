"""Evaluate stage: the task's metrics (95% intervals) for every ONNX model on the test split, through ONNX
Runtime, plus the PyTorch FP32 teacher as the reference; the teacher's ONNX export, the peers and the shipped
model also on the eval split, so a drop is stated on two splits. Peers are scored the way their users run
them (edgebert.peers). It does not time anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgebert import peers as peer_models
from edgebert.progress import Reporter

if TYPE_CHECKING:
    from edgebert.tasks import Task


@dataclass(frozen=True)
class Models:
    """The ONNX models to score by name, which one ships, and each model's own tokenizer where it has one
    (a trimmed vocabulary); the others read the teacher's."""

    onnx: dict[str, Path]
    shipped: str
    teacher_dir: Path
    tokenizers: dict[str, Path] = field(default_factory=dict)
    peers: dict[str, peer_models.Peer] = field(default_factory=dict)  # also in `onnx`, after the teacher

    def tokenizer(self, name: str) -> Path:
        return self.tokenizers.get(name, self.teacher_dir / "tokenizer.json")


def run_evaluate(task: Task, models: Models, data, max_length: int, ctx, batch_size: int = 32) -> dict:
    """`ctx` gives the model options and the reporter."""
    reporter: Reporter = ctx.reporter
    split = data.test
    outputs = {"teacher-pytorch": _pytorch_outputs(task, models.teacher_dir, split, max_length, ctx)}
    predictors = {}
    for name, path in models.onnx.items():
        if name in models.peers:
            predictors[name] = peer_models.predictor(models.peers[name], task, data, max_length)
        else:
            predictors[name] = task.onnx_predictor(path, models.tokenizer(name), data, max_length)
        outputs[name] = task.onnx_outputs(
            predictors[name], split, batch_size, lambda c, n=name: reporter.track(c, f"evaluate {n}")
        )
    results = {name: task.metrics(out, split, data, 0) for name, out in outputs.items()}
    on_eval = {}
    for name in ("teacher", *models.peers, models.shipped):
        track = lambda c, n=name: reporter.track(c, f"evaluate {n} on eval")  # noqa: E731
        on_eval[name] = task.metrics(task.onnx_outputs(predictors[name], data.eval, batch_size, track), data.eval, data)
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
        "eval_split": {"split": data.eval.origin, "n": len(data.eval), "models": on_eval},
        "agreement_with_teacher": {
            name: round(task.agreement(out, outputs["teacher"]), 4) for name, out in outputs.items()
        },
    }


def _pytorch_outputs(task: Task, model_dir: Path, split, max_length: int, ctx) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = task.load_model(model_dir, ctx.model_options).eval()
    track = lambda chunks: ctx.reporter.track(chunks, "evaluate teacher-pytorch")  # noqa: E731
    return task.torch_outputs(model, tokenizer, split, max_length, track=track)
