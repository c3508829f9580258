"""Unlabelled text: sentences read from text files (one per line), from one column of a TSV/CSV/JSONL file, a
save_to_disk folder or a hub split, or the words of a CoNLL file's sentences. Distillation shows them to the
teacher and trains the student on its outputs alone, so no labels are read. Blank lines and repeated sentences
are dropped (first occurrence kept, in order); a column the file lacks and a corpus with no sentence left are
errors naming the recipe field and the fix.

    >>> read_texts([TextColumn(file="stsb/train.tsv", column="sentence1"), "more.txt"], resolve, "distill.unlabelled")
    ['A plane is taking off.', …]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgebert.data.rows import read_source, utf8_text
from edgebert.data.tagged import conll_sentences
from edgebert.errors import DataError
from edgebert.recipe.data import TextColumn, TextSource


@dataclass(frozen=True)
class TextSplit:
    """Sentences without labels (a sentence-embedding corpus)."""

    texts: list[str]
    origin: str

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> TextSplit:
        return self if n is None or n >= len(self) else TextSplit(self.texts[:n], self.origin)

    @property
    def examples(self) -> list[str]:
        """What one model call reads: a sentence (the seam the stages use)."""
        return self.texts

    corpus = examples


def read_texts(
    sources: Sequence[TextSource], resolve: Callable[[str], Path], field: str
) -> list[str | tuple[str, str]]:
    """Every sentence of `sources` (a sentence pair, as a tuple, from a source with `pair`), in order, blank and
    repeated ones dropped (a pair with a blank side too); `field` names them in errors."""
    texts: dict[str | tuple[str, str], None] = {}
    for i, source in enumerate(sources):
        where = f"{field}[{i}]" if len(sources) > 1 else field
        for text in _one(source, resolve, where):
            text = tuple(side.strip() for side in text) if isinstance(text, tuple) else text.strip()
            if text and all(text):
                texts.setdefault(text)
    if not texts:
        raise DataError(f"{field}: no sentences in {_names(sources)}; point it at files with text in them")
    return list(texts)


def fingerprint(sources: Sequence[TextSource], resolve: Callable[[str], Path]) -> str:
    """sha256 over the sources as written and the bytes of every local file they name (for resume)."""
    h = hashlib.sha256(repr([s if isinstance(s, str) else _as_written(s) for s in sources]).encode())
    for source in sources:
        path = source if isinstance(source, str) else source.file
        if isinstance(path, str) and resolve(path).is_file():
            h.update(resolve(path).read_bytes())
    return h.hexdigest()


def _one(source: TextSource, resolve: Callable[[str], Path], where: str) -> list[str]:
    path = resolve(source if isinstance(source, str) else source.file) if not _remote(source) else None
    if path is not None and not path.exists():
        raise DataError(f"{where}: file {path} not found. Fix the path (relative to the recipe's folder).")
    if isinstance(source, str):
        return utf8_text(path, source).splitlines()
    if source.format == "conll":
        if path is None or not path.is_file():
            raise DataError(f"{where}: format conll reads a local CoNLL file; {source.file} is not one")
        return [" ".join(words) for words in conll_sentences(path, f"{where}: {source.file}")]
    rows, origin = read_source(source.file, where, source.header, resolve)
    if not rows:
        return []
    first = rows[0].values
    for name, column in (("column", source.column), ("pair", source.pair)):
        if column is None:
            continue
        if isinstance(first, dict) and column not in first:
            raise DataError(
                f"{where}: {origin} has no column {column!r}; its columns: {', '.join(map(str, first))}. "
                f"Set {name}: to one of them"
            )
        if isinstance(first, list) and not (isinstance(column, int) and 0 <= column < len(first)):
            last = len(first) - 1
            raise DataError(f"{where}: {origin} has {len(first)} columns and no header; set {name}: 0..{last}")
    if source.pair is not None:
        return [(str(row.values[source.column]), str(row.values[source.pair])) for row in rows]
    return [str(row.values[source.column]) for row in rows]


def _as_written(source: TextColumn) -> dict:
    """The source's fields for the fingerprint; `format` and `pair` only when set (sources written before them keep
    their key)."""
    fields = source.model_dump(mode="json")
    if source.format == "table":
        del fields["format"]
    if source.pair is None:
        del fields["pair"]
    return fields


def _remote(source: TextSource) -> bool:
    return not isinstance(source, str) and not isinstance(source.file, str)


def _names(sources: Sequence[TextSource]) -> str:
    return ", ".join(s if isinstance(s, str) else str(getattr(s.file, "disk", s.file)) for s in sources) or "[]"


__all__ = ["TextColumn", "fingerprint", "read_texts"]
