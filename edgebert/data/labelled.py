"""Labelled text splits for text classification and regression: a text column (and, for sentence pairs, a
second one: `data.text_pair`) and a label column per row (TSV/CSV/JSONL, `save_to_disk` folders, hub datasets;
read by rows.py).

An example is what one model call reads: a string, or a (text, text_pair) tuple (`Split.examples`); the tokenizer
encodes a tuple as one sequence with segment ids. Labels are kept as strings ("0", "positive"); the label set
comes from the train split, in numeric order when every label is an integer and alphabetical order otherwise. For
regression (`scores=True`) the label column holds numbers, checked against `data.score_range`, and the dataset has
no label set. This module tokenizes nothing.

    >>> ds = load_data(recipe.data, recipe.path)
    >>> ds.labels, len(ds.train)
    (('negative', 'positive'), 236)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.data.rows import Row, read_rows, read_source
from edgebert.errors import DataError
from edgebert.recipe import DataConfig, Source


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[str]
    origin: str
    pairs: list[str] | None = None  # each example's second text (data.text_pair), or None for single texts

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else self.pick(range(n))

    def pick(self, index, origin: str | None = None) -> Split:
        """The examples at `index`, in that order."""
        pairs = [self.pairs[i] for i in index] if self.pairs is not None else None
        return Split([self.texts[i] for i in index], [self.labels[i] for i in index], origin or self.origin, pairs)

    @property
    def examples(self) -> list:
        """What each model call reads, one per example: the text, or the (text, text_pair) tuple."""
        return self.texts if self.pairs is None else list(zip(self.texts, self.pairs, strict=True))

    @property
    def corpus(self) -> list[str]:
        """Every text of the split, both sides of a pair (what a vocabulary or piece counts are taken from)."""
        return self.texts if self.pairs is None else self.texts + self.pairs


@dataclass(frozen=True)
class Dataset:
    train: Split
    eval: Split
    test: Split
    labels: tuple[str, ...]  # empty for regression
    notes: tuple[str, ...] = ()
    positive: str | None = None  # the label whose F1 is reported, for two labels
    score_range: tuple[float, float] | None = None  # regression: data.score_range, or train's lowest and highest

    def label_ids(self, split: Split) -> list[int]:
        index = {name: i for i, name in enumerate(self.labels)}
        return [index[label] for label in split.labels]

    def scores(self, split: Split) -> list[float]:
        """A regression split's labels as numbers (load_data checked them)."""
        return [float(label) for label in split.labels]


def load_data(cfg: DataConfig, resolve: Callable[[str], Path], seed: int = 42, scores: bool = False) -> Dataset:
    """Load train/eval/test. A missing eval split is carved from train; a missing test split falls back to eval.
    `scores`: the label column holds numbers (regression) rather than class names."""
    notes = []
    train = _read(cfg, "train", cfg.train, resolve, scores)
    if cfg.eval is not None:
        dev = _read(cfg, "eval", cfg.eval, resolve, scores)
    else:
        train, dev = _carve(train, cfg.eval_fraction, seed)
        notes.append(f"no data.eval: held out {len(dev)} train examples ({cfg.eval_fraction:.0%}) for evaluation")
    if cfg.test is not None:
        test = _read(cfg, "test", cfg.test, resolve, scores)
    else:
        test = dev
        notes.append("no data.test: test metrics are measured on the eval split")
    if scores:
        values = [float(y) for y in train.labels]
        span = tuple(cfg.score_range) if cfg.score_range is not None else (min(values), max(values))
        if span[1] <= span[0]:
            raise DataError(
                f"data.train ({train.origin}): every score is {span[0]:g}; a regressor needs scores that differ"
                if cfg.score_range is None
                else f"data.score_range {list(cfg.score_range)} is empty: give [low, high] with low < high"
            )
        return Dataset(train=train, eval=dev, test=test, labels=(), notes=tuple(notes), score_range=span)
    labels = _label_order(set(train.labels))
    if len(labels) < 2:
        raise DataError(f"data.train ({train.origin}) has a single label {labels[0]!r}: a classifier needs two or more")
    for name, split in (("eval", dev), ("test", test)):
        unseen = sorted(set(split.labels) - set(labels))
        if unseen:
            raise DataError(
                f"data.{name} ({split.origin}) has labels never seen in train: {', '.join(map(repr, unseen[:5]))}; "
                f"train's labels are {', '.join(map(repr, labels))}. Fix the label column or add training examples."
            )
    return Dataset(train=train, eval=dev, test=test, labels=labels, notes=tuple(notes), positive=_positive(cfg, labels))


def _positive(cfg: DataConfig, labels: tuple[str, ...]) -> str | None:
    if cfg.positive is not None and cfg.positive not in labels:
        raise DataError(f"data.positive {cfg.positive!r} is not one of train's labels: {', '.join(map(repr, labels))}")
    if len(labels) != 2:
        return None
    return cfg.positive if cfg.positive is not None else labels[1]


def _check_score(cfg: DataConfig, row: Row, label: str) -> None:
    """A regression label must be a finite number within data.score_range."""
    low, high = cfg.score_range if cfg.score_range is not None else (-math.inf, math.inf)
    try:
        value = float(label)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataError(
            f"{row.where}: the score {label!r} (data.label={cfg.label!r}) is not a number; fix or remove the row"
        )
    if not low <= value <= high:
        raise DataError(
            f"{row.where}: the score {value:g} is outside data.score_range [{low:g}, {high:g}]; fix the row or widen "
            "data.score_range"
        )


def _label_order(labels: set[str]) -> tuple[str, ...]:
    if all(label.lstrip("-").isdigit() for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _carve(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, int(len(order) * fraction))
    return train.pick(order[n_dev:]), train.pick(order[:n_dev], f"{train.origin} (held out)")


def _read(cfg: DataConfig, name: str, source: Source, resolve: Callable[[str], Path], scores: bool = False) -> Split:
    rows, origin = read_source(source, name, cfg.header, resolve)
    names = Columns(f"data.{name}", "data.text", "data.label", origin)
    pair = Columns(f"data.{name}", "data.text_pair", "data.label", origin)
    texts, labels, pairs = [], [], []
    for row in rows:
        text, label = names.pick(row, cfg.text, cfg.label)
        if scores:
            _check_score(cfg, row, label)
        texts.append(text)
        labels.append(label)
        if cfg.text_pair is not None:
            pairs.append(pair.pick(row, cfg.text_pair, cfg.label)[0])
    if not texts:
        raise DataError(f"data.{name} ({origin}) has no examples")
    return Split(texts, labels, origin, pairs if cfg.text_pair is not None else None)


@dataclass(frozen=True)
class Columns:
    """How a text and a label are taken from a row, and what the errors call them: the recipe's data.text and
    data.label, or `edgebert check`'s --text and --label."""

    split: str
    text: str
    label: str
    origin: str

    def pick(self, row: Row, text_column: str | int, label_column: str | int) -> tuple[str, str]:
        text = self.field(row, text_column, self.text)
        label = self.field(row, label_column, self.label)
        if text is None or str(text).strip() == "":
            empty = "null" if text is None else "empty"
            raise DataError(f"{row.where}: the text ({self.text}={text_column!r}) is {empty}; fix or remove the row")
        if label is None or str(label).strip() == "":
            raise DataError(f"{row.where}: the label ({self.label}={label_column!r}) is empty; fix or remove the row")
        return str(text).strip(), str(label).strip()

    def field(self, row: Row, column: str | int, option: str) -> object:
        try:
            return row.values[column]
        except (KeyError, IndexError, TypeError):
            pass
        if isinstance(row.values, dict):
            have = ", ".join(map(str, row.values))
            raise DataError(
                f"{self.split} ({self.origin}) has no column {column!r} for {option}; columns are: {have}. "
                f"Set {option} to one of them."
            )
        raise DataError(
            f"{row.where} has {len(row.values)} columns, so {option}={column!r} does not exist; "
            "without a header row, the text and label columns are indices from 0."
        )


def read_labelled(path: Path, text: str | int = "sentence", label: str | int = "label") -> tuple[list[str], list[str]]:
    """(texts, labels as strings) from one local TSV/CSV/JSONL file with a header, for `edgebert check --data`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--data {path} not found")
    names = Columns("--data", "--text", "--label", str(path))
    picked = [names.pick(row, text, label) for row in read_rows(path, header=True)]
    if not picked:
        raise DataError(f"--data {path} has no examples")
    return [t for t, _ in picked], [y for _, y in picked]
