"""Reading rows from local files, `save_to_disk` folders and hub datasets, strictly: UTF-8, one JSON object per
JSONL line, the same number of fields in every TSV/CSV row, each problem named with its file and line. What a
row means (a text and a label, tokens and tags) is for the task's reader (labelled.py, tagged.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.errors import DataError
from edgebert.recipe import DataConfig, DiskSource, HubSource, Source


@dataclass(frozen=True)
class Row:
    """One example as read, with where it came from ("data/train.tsv line 12") for error messages."""

    where: str
    values: dict | list


def read_source(
    source: Source, name: str, header: bool, resolve: Callable[[str], Path], names: bool = False
) -> tuple[list[Row], str]:
    """The rows of one split (`name`: train, eval or test) and a name for where they came from. `names`: a
    datasets ClassLabel column (or a sequence of them, as NER tags are) is read as its label names."""
    if isinstance(source, HubSource):
        origin = f"hub:{source.hub}/{source.config or ''}:{source.split}"
        return [Row(f"{origin} row {i + 1}", r) for i, r in enumerate(_read_hub(source, names))], origin
    if isinstance(source, DiskSource):
        rows = _read_disk(resolve(source.disk), source.split, name, names)
        return [Row(f"{source.disk} row {i + 1}", r) for i, r in enumerate(rows)], source.disk
    path, origin = resolve(source), str(source)
    if path.is_dir():
        rows = _read_disk(path, None, name, names)
        return [Row(f"{origin} row {i + 1}", r) for i, r in enumerate(rows)], origin
    if not path.is_file():
        raise DataError(f"data.{name}: file {path} not found. Fix the path (relative to the recipe's folder).")
    return read_rows(path, header, origin), origin


def fingerprint(cfg: DataConfig, resolve: Callable[[str], Path]) -> str:
    """sha256 over the recipe's data section and the bytes of every local file it names (for resume)."""
    h = hashlib.sha256(cfg.fingerprint_json().encode())
    for source in (cfg.train, cfg.eval, cfg.test):
        if isinstance(source, str) and resolve(source).is_file():
            h.update(resolve(source).read_bytes())
    return h.hexdigest()


def read_rows(path: Path, header: bool, origin: str | None = None) -> list[Row]:
    """Every example of a local TSV/CSV/JSONL file, checked: UTF-8, one JSON object per JSONL line, the same
    number of fields in every TSV/CSV row. Each error names the file and line."""
    origin = origin or str(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv", ".txt", ".jsonl", ".json"):
        raise DataError(f"{path}: unknown data format {suffix!r}; use .tsv, .csv, .jsonl or a save_to_disk folder")
    text = utf8_text(path, origin)
    if suffix in (".jsonl", ".json"):
        return _jsonl_rows(text, origin)
    # TSV text often holds stray quotes (SST-2 does): read it unquoted; CSV keeps standard quoting
    reader = (
        csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
        if suffix != ".csv"
        else csv.reader(io.StringIO(text, newline=""))
    )
    rows = [(reader.line_num, r) for r in reader if r]
    if not rows:
        return []
    sep = (
        "a comma (quote texts that hold commas)"
        if suffix == ".csv"
        else "a tab (TSV is read unquoted: remove tabs from texts)"
    )
    width, what = len(rows[0][1]), "the header has" if header else "the first row has"
    for line, r in rows:
        if len(r) != width:
            raise DataError(f"{origin} line {line} has {len(r)} fields where {what} {width}: a field holds {sep}")
    if not header:
        return [Row(f"{origin} line {line}", r) for line, r in rows]
    names = [c.strip() for c in rows[0][1]]
    return [Row(f"{origin} line {line}", dict(zip(names, r, strict=True))) for line, r in rows[1:]]


def utf8_text(path: Path, origin: str) -> str:
    """The file's text; bytes that are not UTF-8 are an error naming the line and column."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{origin} line {line}, column {column}: byte 0x{raw[e.start]:02x} is not UTF-8; re-save the file as UTF-8"
        ) from None


def _jsonl_rows(text: str, origin: str) -> list[Row]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{origin} line {n} is not JSON ({e.msg}); JSONL needs one object per line") from None
        if not isinstance(value, dict):
            raise DataError(f"{origin} line {n} is a JSON {type(value).__name__}; JSONL needs one object per line")
        rows.append(Row(f"{origin} line {n}", value))
    return rows


def _read_disk(path: Path, split: str | None, name: str, names: bool = False) -> list[dict]:
    datasets = _import_datasets()
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise DataError(f"data.{name}: {path} is not a folder written by datasets' save_to_disk") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None or split not in ds:
            raise DataError(f"data.{name}: {path} holds splits {list(ds)}; name one as {{disk: {path}, split: …}}")
        ds = ds[split]
    return _decoded(ds) if names else list(ds)


def _read_hub(source: HubSource, names: bool = False) -> list[dict]:
    datasets = _import_datasets()
    try:
        ds = datasets.load_dataset(source.hub, source.config, split=source.split)
        return _decoded(ds) if names else list(ds)
    except Exception as e:  # noqa: BLE001 - the hub raises many types (network, missing split, auth)
        raise DataError(f"could not load hub dataset {source.hub!r} ({source.config}, {source.split}): {e}") from None


def _decoded(ds) -> list[dict]:
    """Rows with ClassLabel ids (and sequences of them) replaced by their names."""
    datasets = _import_datasets()
    decoders = {}
    for column, feature in ds.features.items():
        inner = getattr(feature, "feature", None)
        if isinstance(feature, datasets.ClassLabel):
            decoders[column] = feature.int2str
        elif isinstance(inner, datasets.ClassLabel):
            decoders[column] = lambda ids, f=inner: [f.int2str(i) for i in ids]
        elif isinstance(feature, list) and feature and isinstance(feature[0], datasets.ClassLabel):
            decoders[column] = lambda ids, f=feature[0]: [f.int2str(i) for i in ids]
    return [{k: decoders[k](v) if k in decoders else v for k, v in row.items()} for row in ds]


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise DataError("reading save_to_disk folders or hub datasets needs `pip install datasets`") from None
    return datasets
