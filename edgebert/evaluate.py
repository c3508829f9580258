"""Metrics of ONNX models, measured through ONNX Runtime (the model that ships, not its PyTorch source).

Accuracy carries a Wilson 95% interval; macro-F1 a seeded bootstrap 95% interval. `agreement` compares two
models' predictions; the `*_difference` functions give two models' difference in one metric on the same examples
with a paired bootstrap 95% interval (both scored on each resample). Nothing here trains or times models.

    >>> accuracy_with_ci(np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]))
    {'value': 0.75, 'low': 0.301, 'high': 0.954, 'n': 4}
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np

Z95 = 1.959963984540054
_PUNCTUATION = frozenset(string.punctuation)


def wilson(correct: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> float:
    scores = []
    for c in range(n_labels):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def accuracy_with_ci(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    correct = int(np.sum(y_true == y_pred))
    low, high = wilson(correct, len(y_true))
    return {
        "value": round(correct / max(1, len(y_true)), 6),
        "low": round(low, 3),
        "high": round(high, 3),
        "n": len(y_true),
    }


def macro_f1_with_ci(
    y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, seed: int = 0, resamples: int = 1000
) -> dict:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y_true), size=(resamples, len(y_true)))
    boot = [macro_f1(y_true[i], y_pred[i], n_labels) for i in idx]
    return {
        "value": round(macro_f1(y_true, y_pred, n_labels), 6),
        "low": round(float(np.percentile(boot, 2.5)), 3),
        "high": round(float(np.percentile(boot, 97.5)), 3),
        "n": len(y_true),
    }


def f1_with_ci(gold: np.ndarray, predicted: np.ndarray, seed: int = 0, resamples: int = 1000) -> dict:
    """F1 of one class (the `True`s: the paraphrase, the relevant answer), with a bootstrap 95% interval.

    >>> f1_with_ci(np.array([True, True, False]), np.array([True, False, False]))["value"]
    0.666667
    """
    gold, predicted = np.asarray(gold, bool), np.asarray(predicted, bool)
    idx = _resamples(len(gold), seed, resamples)
    tp = (gold & predicted)[idx].sum(1)
    wrong = (gold != predicted)[idx].sum(1)
    boot = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)
    tp_all, wrong_all = int((gold & predicted).sum()), int((gold != predicted).sum())
    value = 0.0 if tp_all == 0 else 2 * tp_all / (2 * tp_all + wrong_all)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"value": round(value, 6), "low": round(float(low), 3), "high": round(float(high), 3), "n": len(gold)}


def pearson_with_ci(predicted: np.ndarray, gold: np.ndarray, seed: int = 0, resamples: int = 1000) -> dict:
    """Pearson's correlation of predicted scores with gold scores, with a 95% bootstrap interval over examples."""
    predicted, gold = np.asarray(predicted, np.float64), np.asarray(gold, np.float64)
    idx = _resamples(len(gold), seed, resamples)
    p, g = predicted[idx], gold[idx]
    p, g = p - p.mean(1, keepdims=True), g - g.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (p * g).sum(1) / np.sqrt((p * p).sum(1) * (g * g).sum(1))
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    value = float(np.corrcoef(predicted, gold)[0, 1])
    return {"value": round(value, 6), "low": round(float(low), 4), "high": round(float(high), 4), "n": len(gold)}


def classification_metrics(logits: np.ndarray, y_true: list[int], n_labels: int, seed: int = 0) -> dict:
    y = np.asarray(y_true)
    pred = logits.argmax(axis=1)
    return {"accuracy": accuracy_with_ci(y, pred), "macro_f1": macro_f1_with_ci(y, pred, n_labels, seed)}


def agreement(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    return float(np.mean(logits_a.argmax(axis=1) == logits_b.argmax(axis=1)))


def _resamples(n: int, seed: int, resamples: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _difference(point: float, resampled: np.ndarray) -> dict:
    low, high = np.nanpercentile(resampled, [2.5, 97.5])
    return {"value": round(float(point), 6), "low": round(float(low), 4), "high": round(float(high), 4)}


def accuracy_difference(y_true, pred_a, pred_b, seed: int = 0, resamples: int = 1000) -> dict:
    """Accuracy of a minus accuracy of b on the same examples, with a paired bootstrap 95% interval.

    >>> accuracy_difference(np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0]))
    {'value': 0.0, 'low': 0.0, 'high': 0.0}
    """
    y = np.asarray(y_true)
    d = (np.asarray(pred_a) == y).astype(np.float64) - (np.asarray(pred_b) == y)
    return _difference(d.mean(), d[_resamples(len(y), seed, resamples)].mean(axis=1))


def entities(tags: list[str]) -> set[tuple[str, int, int]]:
    """Entities of one IOB2 sentence, strictly (seqeval's strict mode): B-X opens one, I-X continues it, any
    other tag ends it; an I-X with nothing of type X open starts nothing.

    >>> sorted(entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]))
    [('LOC', 4, 5), ('PER', 0, 2)]
    """
    found, kind, start = set(), None, 0
    for i, tag in enumerate([*tags, "O"]):
        if kind is not None and tag != f"I-{kind}":
            found.add((kind, start, i))
            kind = None
        if tag.startswith("B-"):
            kind, start = tag[2:], i
    return found


def _entity_counts(gold: list[list[str]], pred: list[list[str]], types: list[str]) -> np.ndarray:
    """Per sentence, per type (then all types): true positives, predicted and gold entities; [n, types+1, 3]."""
    counts = np.zeros((len(gold), len(types) + 1, 3))
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        eg, ep = entities(g), entities(p)
        for j, kind in enumerate([*types, None]):
            sg = {e for e in eg if kind is None or e[0] == kind}
            sp = {e for e in ep if kind is None or e[0] == kind}
            counts[i, j] = (len(sg & sp), len(sp), len(sg))
    return counts


def _precision_recall_f1(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp, npred, ngold = c[..., 0], c[..., 1], c[..., 2]
    p = np.divide(tp, npred, out=np.zeros_like(tp), where=npred > 0)
    r = np.divide(tp, ngold, out=np.zeros_like(tp), where=ngold > 0)
    f = np.divide(2 * tp, npred + ngold, out=np.zeros_like(tp), where=(npred + ngold) > 0)
    return p, r, f


def entity_metrics(gold: list[list[str]], pred: list[list[str]], seed: int = 0, resamples: int = 1000) -> dict:
    """Entity precision, recall and F1 (strict span match) with 95% bootstrap intervals over sentences, and the
    same per entity type: {"entity_f1": {"value", "low", "high", "n"}, ..., "per_type": {"PER": {...}}}."""
    types = sorted({e[0] for g in gold for e in entities(g)})
    counts = _entity_counts(gold, pred, types)
    boot = counts[_resamples(len(gold), seed, resamples)].sum(axis=1)  # resamples, types+1, 3
    total = counts.sum(axis=0)
    point, spread = _precision_recall_f1(total), _precision_recall_f1(boot)

    def metric(k: int, j: int) -> dict:
        low, high = np.percentile(spread[k][:, j], [2.5, 97.5])
        return {"value": round(float(point[k][j]), 6), "low": round(float(low), 3), "high": round(float(high), 3),
                "n": len(gold)}  # fmt: skip

    names = ("entity_precision", "entity_recall", "entity_f1")
    out = {name: metric(k, len(types)) for k, name in enumerate(names)}
    out["per_type"] = {
        kind: {name: metric(k, j) for k, name in enumerate(names)} | {"support": int(total[j, 2])}
        for j, kind in enumerate(types)
    }
    return out


def entity_f1_difference(gold, pred_a, pred_b, seed: int = 0, resamples: int = 1000) -> dict:
    """Entity F1 of a minus entity F1 of b on the same sentences, with a paired bootstrap 95% interval."""
    a, b = (_entity_counts(gold, pred, [])[:, 0] for pred in (pred_a, pred_b))  # [n, 3] each
    idx = _resamples(len(gold), seed, resamples)
    f1 = lambda c: _precision_recall_f1(c)[2]  # noqa: E731
    return _difference(f1(a.sum(0)) - f1(b.sum(0)), f1(a[idx].sum(1)) - f1(b[idx].sum(1)))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two [n, dim] arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def _resampled_spearman(predicted: np.ndarray, gold: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Spearman on each resample of `idx`: Pearson of ranks, each resample re-ranked (a resample repeats pairs,
    so its ranks differ from the full set's)."""
    from scipy.stats import rankdata

    rp, rg = rankdata(predicted[idx], axis=1), rankdata(gold[idx], axis=1)
    rp, rg = rp - rp.mean(1, keepdims=True), rg - rg.mean(1, keepdims=True)
    return (rp * rg).sum(1) / np.sqrt((rp * rp).sum(1) * (rg * rg).sum(1))


def spearman(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Spearman's rank correlation (ties averaged)."""
    from scipy.stats import rankdata

    return float(np.corrcoef(rankdata(predicted), rankdata(gold))[0, 1])


def spearman_with_ci(predicted: np.ndarray, gold: np.ndarray, seed: int = 0, resamples: int = 1000) -> dict:
    """Spearman's rank correlation (scipy's, ties averaged) of predicted similarities with gold scores, with a
    95% bootstrap interval over pairs: {"value", "low", "high", "n"}."""
    predicted, gold = np.asarray(predicted, np.float64), np.asarray(gold, np.float64)
    boot = _resampled_spearman(predicted, gold, _resamples(len(gold), seed, resamples))
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    value = spearman(predicted, gold)
    return {"value": round(value, 6), "low": round(float(low), 4), "high": round(float(high), 4), "n": len(gold)}


def spearman_difference(predicted_a, predicted_b, gold, seed: int = 0, resamples: int = 1000) -> dict:
    """Spearman of a minus Spearman of b against the same gold scores, with a paired bootstrap 95% interval."""
    a, b, gold = (np.asarray(x, np.float64) for x in (predicted_a, predicted_b, gold))
    idx = _resamples(len(gold), seed, resamples)
    return _difference(
        spearman(a, gold) - spearman(b, gold),
        _resampled_spearman(a, gold, idx) - _resampled_spearman(b, gold, idx),
    )


def neighbour_agreement(reference: np.ndarray, other: np.ndarray, k: int = 10, chunk: int = 1024) -> float:
    """Share of each sentence's k nearest neighbours (cosine, itself excluded) under `reference` that `other`
    keeps, averaged over sentences: 1.0 when the two embeddings rank a corpus alike."""

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    ref, oth = unit(reference), unit(other)
    n, kept = len(ref), 0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        tops = []
        for x in (ref, oth):
            sim = x[rows] @ x.T
            sim[np.arange(len(rows)), rows] = -np.inf
            tops.append(np.argpartition(-sim, k, axis=1)[:, :k])
        kept += sum(len(np.intersect1d(a, b)) for a, b in zip(*tops, strict=True))
    return kept / (n * k)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation (its official evaluation script): lower case, punctuation and the articles
    a/an/the removed, whitespace collapsed.

    >>> normalize_answer("The  Denver Broncos!")
    'denver broncos'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_scores(predictions: list[str], references: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per question, SQuAD v1.1's exact match and token F1 of the prediction, each the best over the question's
    reference answers (the official script's rules, written out here: the `evaluate` library fetches its SQuAD
    script from the hub at run time, which an offline machine cannot).

    >>> squad_scores(["Denver Broncos", "in 1990"], [["the Denver Broncos"], ["1990", "March 1990"]])
    (array([1., 0.]), array([1.        , 0.66666667]))
    """
    em, f1 = np.zeros(len(predictions)), np.zeros(len(predictions))
    for i, (prediction, answers) in enumerate(zip(predictions, references, strict=True)):
        p = normalize_answer(prediction)
        for answer in answers:
            g = normalize_answer(answer)
            em[i] = max(em[i], float(p == g))
            f1[i] = max(f1[i], _token_f1(p.split(), g.split()))
    return em, f1


def _token_f1(predicted: list[str], gold: list[str]) -> float:
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def mean_with_ci(scores: np.ndarray, seed: int = 0, resamples: int = 1000) -> dict:
    """The mean of per-example scores with a bootstrap 95% interval over examples."""
    scores = np.asarray(scores, np.float64)
    low, high = np.percentile(scores[_resamples(len(scores), seed, resamples)].mean(1), [2.5, 97.5])
    value = round(float(scores.mean()), 6)
    return {"value": value, "low": round(float(low), 4), "high": round(float(high), 4), "n": len(scores)}


def mean_difference(scores_a: np.ndarray, scores_b: np.ndarray, seed: int = 0, resamples: int = 1000) -> dict:
    """Mean of a minus mean of b over the same examples, with a paired bootstrap 95% interval."""
    d = np.asarray(scores_a, np.float64) - np.asarray(scores_b, np.float64)
    return _difference(d.mean(), d[_resamples(len(d), seed, resamples)].mean(axis=1))
