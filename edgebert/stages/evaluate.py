"""Evaluate stage: accuracy and macro-F1 (95% intervals) of every ONNX model on the test split, through
ONNX Runtime, plus the PyTorch FP32 teacher as the reference. It does not time anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebert.data import Dataset
from edgebert.evaluate import agreement, classification_metrics
from edgebert.reporting import Reporter
from edgebert.runtime import TextClassifier


def run_evaluate(
    models: dict[str, Path],
    shipped: str,
    teacher_dir: Path,
    data: Dataset,
    max_length: int,
    seed: int,
    reporter: Reporter,
    batch_size: int = 32,
    tokenizers: dict[str, Path] | None = None,
) -> dict:
    """`tokenizers` names a model's own tokenizer.json (a trimmed vocabulary); others use the teacher's."""
    texts, y = data.test.texts, data.label_ids(data.test)
    chunks = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    logits: dict[str, np.ndarray] = {"teacher-pytorch": _pytorch_logits(teacher_dir, chunks, max_length, reporter)}
    for name, path in models.items():
        tokenizer = (tokenizers or {}).get(name, teacher_dir / "tokenizer.json")
        clf = TextClassifier.from_files(path, tokenizer, list(data.labels), max_length)
        logits[name] = np.concatenate([clf.logits(c, batch_size) for c in reporter.track(chunks, f"evaluate {name}")])
    results = {name: classification_metrics(lg, y, len(data.labels), seed) for name, lg in logits.items()}
    return {
        "split": data.test.origin,
        "n": len(texts),
        "models": results,
        "shipped": shipped,
        "agreement_with_teacher": {name: round(agreement(lg, logits["teacher"]), 4) for name, lg in logits.items()},
    }


def _pytorch_logits(model_dir: Path, chunks: list[list[str]], max_length: int, reporter: Reporter) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True).eval()
    out = []
    with torch.inference_mode():
        for chunk in reporter.track(chunks, "evaluate teacher-pytorch"):
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits.numpy())
    return np.concatenate(out)
