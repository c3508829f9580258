"""Text regression: a sentence, or a pair of sentences, in; one number out (similarity of two sentences, a
cross-encoder's relevance score for a query and a passage, a rating).

A task of its own rather than a `problem:` switch on text classification, because everything a stage asks of a
task differs: the label column holds numbers (checked against `data.score_range`), there is no label set, the
head has one output, the losses are cross-entropy on a scaled score and squared errors, the metrics are
correlations and the runtime returns a score. What is the same (the model class and its loading, the pair
encoding, the ONNX outputs, the export) is borrowed from text_classification.

Data: `data.text`, optionally `data.text_pair`, and `data.label` holding the score. Head: sequence
classification with one output, a logit: the score is `low + (high - low) * sigmoid(logit)` over
`data.score_range` (train's lowest and highest score when not given), as sentence-transformers' cross-encoders
do. Losses: binary cross-entropy of the logit against the gold score scaled to [0, 1] (a raw-score MSE on a new
head barely moved in three epochs: its bias has to travel to the scores' mean at the learning rate's pace, and
the sigmoid starts at the middle of the range); output distillation is the MSE between student and teacher
logits (`losses.logits` weighs it; there is no temperature). Dev score and primary metric: Spearman's rank
correlation, with Pearson of the scores beside it, each with a 95% bootstrap interval. Export check: the `logits`
output ([batch, 1]). Runtime: edgebert.runtime.text_regression (scores and `rank`).

    >>> task = edgebert.tasks.get("text-regression")
    >>> task.score({"logits": np.array([[0.1], [0.9], [0.5]])}, split, dataset)   # gold scores [0, 5, 3]
    1.0
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgebert.data import Dataset, Split, load_data
from edgebert.errors import ModelError
from edgebert.evaluate import pearson_with_ci, spearman, spearman_difference, spearman_with_ci
from edgebert.tasks.text_classification import (  # noqa: F401 - the same model class, encoding and export
    HEAD_PREFIXES,
    collator,
    distill_target,
    load_model,
    model_class,
    model_from_config,
    onnx_outputs,
    pytorch_outputs,
    torch_outputs,
)

NAME = "text-regression"
OPTIMUM_TASK = "text-classification"
PRIMARY_METRIC = "spearman"
METRICS = ("spearman", "pearson")
LABELLED = True
DEV_METRIC = "spearman"
OUTPUTS = ("logits",)
PEERS = ("optimum-int8", "optimum-o2-int8")  # what users ship otherwise (edgebert.peers); the first is the default
TABLE_WORD = "regression"  # the task in the README's results table
SOFT = math.nan  # the score of an unlabelled example: the teacher's output term reads it, the task loss does not


def read_data(cfg, resolve) -> Dataset:
    return load_data(cfg, resolve, scores=True)


def check_recipe(recipe) -> None:
    from edgebert.recipe.checks import no_mentions, no_single_file, pair_sections

    no_mentions(recipe)
    if recipe.data.text_pair is not None:
        pair_sections(recipe)
    no_single_file(recipe, "the single-file model returns labels, not a regressor's score")


def head_config(dataset: Dataset) -> dict:
    return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "score"}, "label2id": {"score": 0}}


def adopt_trained_head(model, dataset: Dataset, source: str, names: list[str]):
    """A trained head must give one score; a classifier's head cannot be read as one."""
    if model.config.num_labels == 1:
        return model
    raise ModelError(
        f"teacher.model {source!r} has a head with {model.config.num_labels} outputs ({names}), not one score: "
        "add teacher.finetune to train a one-output head"
    )


def encode(tokenizer, split: Split, dataset: Dataset, max_length: int):
    from edgebert.training.loop import encode_texts

    low, high = dataset.score_range
    targets = [(y - low) / (high - low) for y in dataset.scores(split)]
    return encode_texts(tokenizer, split.examples, targets, max_length)


def encode_unlabelled(tokenizer, texts: list, max_length: int):
    from edgebert.training.loop import encode_texts

    return encode_texts(tokenizer, texts, [SOFT] * len(texts), max_length)


def task_loss(outputs, batch):
    import torch.nn.functional as F

    logits, targets = outputs.logits.squeeze(-1), batch["labels"].to(outputs.logits.dtype)
    gold = ~targets.isnan()
    if not gold.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[gold], targets[gold])


def output_loss(student, teacher, batch, cfg):
    """w_logits * MSE(student logit, teacher logit) over the batch (no temperature: there is no distribution)."""
    import torch.nn.functional as F

    return cfg.losses.logits * F.mse_loss(student, teacher)


def dev_score(model, dev, tokenizer, batch_size: int = 128) -> float:
    """Spearman of the model's scores with the gold scores on an encoded split (the score that picks the epoch)."""
    import torch

    from edgebert.training.loop import batches, to_device

    model.eval()
    predicted, gold = [], []
    with torch.no_grad():
        for batch in batches(dev, tokenizer, batch_size, collate=collator(tokenizer)):
            batch = to_device(batch, model.device)
            gold += batch.pop("labels").float().tolist()
            predicted += model(**batch).logits.squeeze(-1).float().tolist()
    return spearman(np.asarray(predicted), np.asarray(gold)) if len(gold) > 1 else 0.0


def onnx_predictor(model: Path, tokenizer: Path, dataset: Dataset | None, max_length: int, threads=None, **session):
    from edgebert.runtime.text_regression import TextRegressor

    return TextRegressor.from_files(model, tokenizer, max_length, threads, **session)


def _logits(outputs: dict) -> np.ndarray:
    return outputs["logits"].reshape(len(outputs["logits"]), -1)[:, 0]


def _scores(outputs: dict, dataset: Dataset) -> np.ndarray:
    """The scores in the data's units (what the runtime returns)."""
    from edgebert.runtime.text_regression import to_score

    return to_score(_logits(outputs), dataset.score_range)


def score(outputs: dict, split: Split, dataset: Dataset) -> float:
    return spearman(_logits(outputs), np.asarray(dataset.scores(split)))


def agreement(a: dict, b: dict) -> float:
    """Pearson's correlation between two models' logits for the same examples."""
    return float(np.corrcoef(_logits(a), _logits(b))[0, 1])


def paired_difference(a: dict, b: dict, split: Split, dataset: Dataset, seed: int = 0) -> dict:
    return spearman_difference(_logits(a), _logits(b), dataset.scores(split), seed)


def metrics(outputs: dict, split: Split, dataset: Dataset, seed: int = 0) -> dict:
    gold = np.asarray(dataset.scores(split))
    return {
        "spearman": spearman_with_ci(_logits(outputs), gold, seed),
        "pearson": pearson_with_ci(_scores(outputs, dataset), gold, seed),
    }


def manifest_block(dataset: Dataset, model_dir: Path | None = None) -> dict:
    return {"pairs": dataset.train.pairs is not None, "score_range": list(dataset.score_range)}


def report_columns() -> tuple[tuple[str, str], ...]:
    return (("spearman", "Spearman (95% CI)"), ("pearson", "Pearson"))
