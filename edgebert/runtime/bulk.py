"""Embedding a file too large to hold: texts streamed in chunks, each chunk embedded in batches of similar length,
the vectors appended to a `.npy` file in input order as they come. Memory holds one chunk of texts and vectors,
whatever the file's length. numpy and the embedder only (never torch).

Input: a text file with one sentence per line (`.txt`, or any file with no column given), or one column of a
TSV/CSV with a header row, or one field of JSONL. Empty lines are embedded as empty texts, so row i of the
output is line i of the input.

    >>> embed_file(emb, Path("corpus.tsv"), Path("vectors.npy"), column="sentence")
    {'rows': 100000, 'dim': 384, ...}
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edgebert.runtime.errors import DistError


def embed_file(
    embedder,
    source: Path,
    output: Path,
    column: str | None = None,
    batch_size: int = 32,
    chunk: int = 4096,
    track: Callable | None = None,
) -> dict:
    """Embed every row of `source` into `output` (float32 [rows, dim] .npy); `track(chunks, description, total)`
    wraps the chunk loop (a progress bar). The file is written under a temporary name, renamed when complete."""
    source, output = Path(source), Path(output)
    total = sum(1 for _ in read_texts(source, column))
    if total == 0:
        raise DistError(f"{source} has no rows to embed")
    tmp = output.with_name(f".{output.name}.tmp")
    dim = None
    pieces = chunks(read_texts(source, column), chunk)
    if track is not None:
        pieces = track(pieces, f"embedding {total:,} rows", -(-total // chunk))
    with open(tmp, "wb") as f:
        for texts in pieces:
            vectors = embedder.embed(texts, batch_size)
            if dim is None:
                dim = vectors.shape[1]
                header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
                np.lib.format.write_array_header_1_0(f, {**header, "shape": (total, dim)})
            f.write(np.ascontiguousarray(vectors, np.float32).tobytes())
    os.replace(tmp, output)
    return {"rows": total, "dim": dim, "output": str(output), "bytes": output.stat().st_size}


def chunks(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    """`texts` in lists of `size` (the last one shorter), read as they are needed."""
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_pairs(source: Path, columns: tuple[str, str] | None) -> Iterator[tuple[str, str]]:
    """The (text, text_pair) of each row of `source`, streamed: two columns of a TSV/CSV with a header or two
    fields of JSONL (`columns`), or without `columns` two tab-separated texts a line."""
    if columns is None:
        for n, line in enumerate(read_texts(source, None), 1):
            fields = line.split("\t")
            if len(fields) != 2:
                raise DistError(
                    f"{source} line {n} has {len(fields)} tab-separated fields; a pair model reads two a line "
                    "(or name them: --column A --column B)"
                )
            yield fields[0], fields[1]
        return
    yield from zip(read_texts(source, columns[0]), read_texts(source, columns[1]), strict=True)


def read_texts(source: Path, column: str | None) -> Iterator[str]:
    """The texts of `source`, one per row, streamed; a missing column is a DistError naming the ones there are."""
    if not source.is_file():
        raise DistError(f"--input {source} not found")
    suffix = source.suffix.lower()
    with open(source, encoding="utf-8-sig", newline="") as f:
        if column is None or suffix == ".txt":
            for line in f:
                yield line.rstrip("\r\n")
        elif suffix in (".jsonl", ".json"):
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if column not in row:
                    raise DistError(f"{source} line {n} has no field {column!r}; set --column to one of {list(row)}")
                yield str(row[column])
        else:
            reader = csv.reader(f) if suffix == ".csv" else csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, [])
            if column not in header:
                raise DistError(f"{source} has no column {column!r}; its columns: {', '.join(header)}. Set --column")
            at = header.index(column)
            for row in reader:
                yield row[at] if at < len(row) else ""
