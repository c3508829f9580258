"""Scored sentence pairs for sentence embeddings: two sentence columns and a similarity score per row (STS-B's
`sentence1<TAB>sentence2<TAB>score`), from TSV/CSV/JSONL, a save_to_disk folder or a hub split (read by rows.py).

Each problem is one line naming the file, line and fix: a missing column, an empty sentence, a score that is not a
number, a score outside the declared range (`low`..`high`), an empty split. It tokenizes nothing.

    >>> pairs = read_pairs("stsb/dev.tsv", "test", PairColumns(), resolve)
    >>> len(pairs), pairs.first[0], pairs.scores[0]
    (1500, 'A man with a hard hat is dancing.', 5.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.data.rows import Row, read_source
from edgebert.errors import DataError
from edgebert.recipe import Source


@dataclass(frozen=True)
class PairSplit:
    first: list[str]
    second: list[str]
    scores: list[float]
    origin: str

    def __len__(self) -> int:
        return len(self.scores)

    def head(self, n: int | None) -> PairSplit:
        if n is None or n >= len(self):
            return self
        return PairSplit(self.first[:n], self.second[:n], self.scores[:n], self.origin)

    @property
    def texts(self) -> list[str]:
        """Every distinct sentence of both columns, in order of first appearance."""
        return list(dict.fromkeys(self.first + self.second))

    examples = texts  # an embedding model reads one sentence per call
    corpus = texts


@dataclass(frozen=True)
class PairColumns:
    """Where a pair's parts are (column names, or indices from 0 without a header), the scores' range, and what
    the recipe calls each, for error messages."""

    first: str | int = "sentence1"
    second: str | int = "sentence2"
    score: str | int = "score"
    low: float | None = None
    high: float | None = None
    header: bool = True
    fields: tuple[str, str, str, str] = ("data.sentence1", "data.sentence2", "data.score", "data.score_range")


def read_pairs(source: Source, name: str, columns: PairColumns, resolve: Callable[[str], Path]) -> PairSplit:
    rows, origin = read_source(source, name, columns.header, resolve)
    if not rows:
        raise DataError(f"data.{name} ({origin}) has no pairs; point it at a file with sentence pairs and scores")
    first_f, second_f, score_f, _ = columns.fields
    first, second, scores = [], [], []
    for row in rows:
        first.append(_sentence(row, columns.first, first_f, origin))
        second.append(_sentence(row, columns.second, second_f, origin))
        scores.append(_score(row, columns, origin))
    return PairSplit(first, second, scores, origin)


def _value(row: Row, column: str | int, field: str, origin: str) -> object:
    try:
        return row.values[column]
    except (KeyError, IndexError, TypeError):
        pass
    if isinstance(row.values, dict):
        have = ", ".join(map(str, row.values))
        raise DataError(
            f"{origin} has no column {column!r} for {field}; its columns: {have}. Set {field} to one of them"
        )
    raise DataError(f"{row.where} has {len(row.values)} columns, so {field}={column!r} does not exist (indices from 0)")


def _sentence(row: Row, column: str | int, field: str, origin: str) -> str:
    text = _value(row, column, field, origin)
    if text is None or not str(text).strip():
        raise DataError(f"{row.where}: the sentence in {field}={column!r} is empty; fix or remove the row")
    return str(text).strip()


def _score(row: Row, columns: PairColumns, origin: str) -> float:
    field, range_field = columns.fields[2], columns.fields[3]
    raw = _value(row, columns.score, field, origin)
    try:
        score = float(raw)
    except (TypeError, ValueError):
        score = math.nan
    if not math.isfinite(score):
        raise DataError(
            f"{row.where}: score {raw!r} ({field}={columns.score!r}) is not a number; fix or remove the row"
        )
    if (columns.low is not None and score < columns.low) or (columns.high is not None and score > columns.high):
        raise DataError(
            f"{row.where}: score {score:g} is outside {range_field} [{_bound(columns.low)}, {_bound(columns.high)}]; "
            f"fix the row or widen {range_field}"
        )
    return score


def _bound(x: float | None) -> str:
    return "any" if x is None else f"{x:g}"
