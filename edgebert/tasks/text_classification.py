"""Text classification: a sentence, or a pair of sentences, in; one label out (sentiment, topic, intent;
paraphrase, entailment, answer relevance).

Data: a text column, optionally a second one (`data.text_pair`: each example is read as one sequence,
`[CLS] a [SEP] b [SEP]` with segment ids), and a label column (edgebert.data); labels are strings, ordered as
data.py says. Head: sequence classification. Losses: cross-entropy on the labels; output distillation is the
temperature-scaled KL between teacher and student logits. Dev score and primary metric: accuracy (Wilson 95%
interval), with macro-F1 and, for two labels, the F1 of the positive label (`data.positive`), each with a bootstrap
interval. Export check: the `logits` output. Runtime: labels with scores, and `rank` for pairs
(edgebert.runtime.text_classification). Torch and transformers are imported inside the functions that train,
so importing this module stays light.

    >>> task = edgebert.tasks.get("text-classification")
    >>> task.score({"logits": np.array([[0.1, 0.9], [2.0, 0.0]])}, split, dataset)   # labels [1, 1]
    0.5
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebert.data import Dataset, Split, load_data
from edgebert.errors import ModelError
from edgebert.evaluate import accuracy_difference, classification_metrics, f1_with_ci
from edgebert.evaluate import agreement as _agreement
from edgebert.tasks import hf

NAME = "text-classification"
OPTIMUM_TASK = "text-classification"
PRIMARY_METRIC = "accuracy"
METRICS = ("accuracy", "macro_f1")
LABELLED = True  # labels train the task loss and score pruning
DEV_METRIC = "accuracy"
OUTPUTS = ("logits",)
PEERS = ("optimum-int8", "optimum-o2-int8")  # what users ship otherwise (edgebert.peers); the first is the default
TABLE_WORD = "classification"  # the task in the README's results table
HEAD_PREFIXES = ("classifier.", "score.", "pre_classifier.")
SOFT = -1  # the label of an unlabelled sentence: the teacher's output term reads it, the task loss does not


def read_data(cfg, resolve) -> Dataset:
    return load_data(cfg, resolve)


def check_recipe(recipe) -> None:
    """Sentence pairs (data.text_pair) cannot use single-sentence sections (edgebert.recipe.checks)."""
    from edgebert.recipe.checks import no_mentions, pair_sections

    no_mentions(recipe)
    if recipe.data.text_pair is not None:
        pair_sections(recipe)


def head_config(dataset: Dataset) -> dict:
    """The config fields that give the model a head for the data's labels."""
    return hf.head_config(dataset.labels)


def model_class():
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification


def load_model(folder, options, head: dict | None = None, eager_attention: bool = False, with_info: bool = False):
    """The model in `folder` (a path or hub id) with this task's head: safetensors only, remote code only when
    `options.trust_remote_code`. `head` (from head_config) sizes a new head; `with_info` also returns whether the
    head was newly initialised."""
    return hf.load_model(model_class(), HEAD_PREFIXES, folder, options, head, eager_attention, with_info)


def model_from_config(config):
    return model_class().from_config(config)


def adopt_trained_head(model, dataset: Dataset, source: str, names: list[str]):
    """A trained head (its labels `names`, in output order) must name the data's labels in the same order, or
    predictions are wrong; returns the model as it is (an error names the fix otherwise)."""
    if all(name.startswith("LABEL_") for name in names) or names == list(dataset.labels):
        return model
    raise ModelError(
        f"teacher.model {source!r} was trained for labels {names} (in that order) but the data's labels are "
        f"{list(dataset.labels)}: rename the data's labels to match, or add teacher.finetune to train a new head"
    )


def encode(tokenizer, split: Split, dataset: Dataset, max_length: int):
    from edgebert.training.loop import encode_texts

    return encode_texts(tokenizer, split.examples, dataset.label_ids(split), max_length)


def encode_unlabelled(tokenizer, texts: list, max_length: int):
    from edgebert.training.loop import encode_texts

    return encode_texts(tokenizer, texts, [SOFT] * len(texts), max_length)


def collator(tokenizer):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, return_tensors="pt")


def task_loss(outputs, batch):
    import torch.nn.functional as F

    logits, labels = outputs.logits, batch["labels"]
    gold = labels != SOFT
    if not gold.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[gold], labels[gold])


def distill_target(config, outputs, attention_mask):
    """What the output term compares between student and teacher (the teacher cache keeps the teacher's): logits."""
    return outputs.logits


def output_loss(student, teacher, batch, cfg):
    """w_logits * T^2 * KL(teacher/T || student/T) over the batch (Hinton et al.); cfg is the distill or recover
    section (its losses.logits weight and temperature)."""
    import torch.nn.functional as F

    t = cfg.temperature
    soft = F.kl_div(
        F.log_softmax(student / t, -1),
        F.log_softmax(teacher / t, -1),
        reduction="batchmean",
        log_target=True,
    )
    return cfg.losses.logits * t * t * soft


def dev_score(model, dev, tokenizer, batch_size: int = 128) -> float:
    """Accuracy on an encoded split (the score that picks the best epoch)."""
    import torch

    from edgebert.training.loop import batches, to_device

    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in batches(dev, tokenizer, batch_size, collate=collator(tokenizer)):
            batch = to_device(batch, model.device)
            labels = batch.pop("labels")
            correct += (model(**batch).logits.argmax(-1) == labels).sum().item()
    return correct / max(1, len(dev))


def pytorch_outputs(model, feeds: dict) -> dict[str, np.ndarray]:
    """The outputs export verifies, from a PyTorch model on numpy feeds."""
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    return {"logits": out.logits.numpy()}


def onnx_predictor(model: Path, tokenizer: Path, dataset: Dataset | None, max_length: int, threads=None, **session):
    """The runtime predictor for an ONNX file (what apps run), for evaluation and `auto` scoring."""
    from edgebert.runtime import TextClassifier

    labels = list(dataset.labels) if dataset is not None else []
    return TextClassifier.from_files(model, tokenizer, labels, max_length, threads, **session)


def onnx_outputs(predictor, split: Split, batch_size: int = 32, track=None) -> dict[str, np.ndarray]:
    """The predictor's logits for every example of `split`, in order; `track` wraps the batches (progress)."""
    examples = split.examples
    chunks = [examples[i : i + batch_size] for i in range(0, len(split), batch_size)]
    parts = [predictor.logits(c, batch_size) for c in (track(chunks) if track else chunks)]
    empty = np.zeros((0, max(1, len(predictor.labels))), np.float32)  # a regressor has no labels and one output
    return {"logits": np.concatenate(parts) if parts else empty}


def torch_outputs(model, tokenizer, split: Split, max_length: int, batch_size: int = 32, track=None) -> dict:
    """The PyTorch model's logits for every example of `split`, in order (the reference evaluate reports)."""
    import torch

    examples = split.examples
    chunks = [examples[i : i + batch_size] for i in range(0, len(split), batch_size)]
    parts = []
    with torch.inference_mode():
        for chunk in track(chunks) if track else chunks:
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
            parts.append(pytorch_outputs(model, {k: v.astype(np.int64) for k, v in enc.items()})["logits"])
    return {"logits": np.concatenate(parts)}


def score(outputs: dict, split: Split, dataset: Dataset) -> float:
    """The primary metric without its interval (what `auto` compares candidates by)."""
    y = np.asarray(dataset.label_ids(split))
    return float(np.mean(outputs["logits"].argmax(axis=1) == y))


def agreement(a: dict, b: dict) -> float:
    """Share of examples where two models predict the same label."""
    return _agreement(a["logits"], b["logits"])


def paired_difference(a: dict, b: dict, split: Split, dataset: Dataset, seed: int = 0) -> dict:
    """Accuracy of a minus b on `split`, with a paired bootstrap 95% interval: {"value", "low", "high"}."""
    y = dataset.label_ids(split)
    return accuracy_difference(y, a["logits"].argmax(axis=1), b["logits"].argmax(axis=1), seed)


def metrics(outputs: dict, split: Split, dataset: Dataset, seed: int = 0) -> dict:
    """Every metric in METRICS with its 95% interval: {"accuracy": {"value", "low", "high", "n"}, ...}; with two
    labels also `f1`, the positive label's."""
    y = dataset.label_ids(split)
    out = classification_metrics(outputs["logits"], y, len(dataset.labels), seed)
    if dataset.positive is not None:
        positive = dataset.labels.index(dataset.positive)
        out["f1"] = f1_with_ci(np.asarray(y) == positive, outputs["logits"].argmax(axis=1) == positive, seed)
    return out


def manifest_block(dataset: Dataset, model_dir: Path | None = None) -> dict:
    pairs = dataset.train.pairs is not None
    return {"labels": list(dataset.labels), "pairs": pairs} | (
        {"positive": dataset.positive} if dataset.positive else {}
    )


def report_columns() -> tuple[tuple[str, str], ...]:
    """(metric, column heading) for report.md's model table, primary first (f1: two labels only)."""
    return (("accuracy", "accuracy (95% CI)"), ("macro_f1", "macro-F1"), ("f1", "F1 (positive)"))
