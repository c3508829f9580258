"""Reading labelled text splits: local TSV/CSV/JSONL files, `save_to_disk` folders, hub datasets.

Labels are kept as strings ("0", "positive"); the label set comes from the train split, in numeric order when
every label is an integer and alphabetical order otherwise. This module tokenizes nothing.

    >>> ds = load_data(recipe.data, recipe.path)
    >>> ds.labels, len(ds.train)
    (('negative', 'positive'), 236)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.errors import DataError
from edgebert.recipe import DataConfig, DiskSource, HubSource, Source


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[str]
    origin: str

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else Split(self.texts[:n], self.labels[:n], self.origin)


@dataclass(frozen=True)
class Dataset:
    train: Split
    eval: Split
    test: Split
    labels: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def label_ids(self, split: Split) -> list[int]:
        index = {name: i for i, name in enumerate(self.labels)}
        return [index[label] for label in split.labels]


def load_data(cfg: DataConfig, resolve: Callable[[str], Path], seed: int = 42) -> Dataset:
    """Load train/eval/test. A missing eval split is carved from train; a missing test split falls back to eval."""
    notes = []
    train = _read(cfg, "train", cfg.train, resolve)
    if cfg.eval is not None:
        dev = _read(cfg, "eval", cfg.eval, resolve)
    else:
        train, dev = _carve(train, cfg.eval_fraction, seed)
        notes.append(f"no data.eval: held out {len(dev)} train examples ({cfg.eval_fraction:.0%}) for evaluation")
    if cfg.test is not None:
        test = _read(cfg, "test", cfg.test, resolve)
    else:
        test = dev
        notes.append("no data.test: test metrics are measured on the eval split")
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
    return Dataset(train=train, eval=dev, test=test, labels=labels, notes=tuple(notes))


def fingerprint(cfg: DataConfig, resolve: Callable[[str], Path]) -> str:
    """sha256 over the recipe's data section and the bytes of every local file it names (for resume)."""
    h = hashlib.sha256(cfg.model_dump_json().encode())
    for source in (cfg.train, cfg.eval, cfg.test):
        if isinstance(source, str) and resolve(source).is_file():
            h.update(resolve(source).read_bytes())
    return h.hexdigest()


def _label_order(labels: set[str]) -> tuple[str, ...]:
    if all(label.lstrip("-").isdigit() for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _carve(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, int(len(order) * fraction))
    pick = lambda idx, tag: Split([train.texts[i] for i in idx], [train.labels[i] for i in idx], tag)  # noqa: E731
    return pick(order[n_dev:], train.origin), pick(order[:n_dev], f"{train.origin} (held out)")


@dataclass(frozen=True)
class Row:
    """One example as read, with where it came from ("data/train.tsv line 12") for error messages."""

    where: str
    values: dict | list


def _read(cfg: DataConfig, name: str, source: Source, resolve: Callable[[str], Path]) -> Split:
    if isinstance(source, HubSource):
        origin = f"hub:{source.hub}/{source.config or ''}:{source.split}"
        rows = [Row(f"{origin} row {i + 1}", r) for i, r in enumerate(_read_hub(source))]
    elif isinstance(source, DiskSource):
        rows = [
            Row(f"{source.disk} row {i + 1}", r)
            for i, r in enumerate(_read_disk(resolve(source.disk), source.split, name))
        ]
        origin = source.disk
    else:
        path = resolve(source)
        origin = str(source)
        if path.is_dir():
            rows = [Row(f"{origin} row {i + 1}", r) for i, r in enumerate(_read_disk(path, None, name))]
        elif not path.is_file():
            raise DataError(f"data.{name}: file {path} not found. Fix the path (relative to the recipe's folder).")
        else:
            rows = read_rows(path, cfg.header, origin)
    names = Columns(f"data.{name}", "data.text", "data.label", origin)
    texts, labels = [], []
    for row in rows:
        text, label = names.pick(row, cfg.text, cfg.label)
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"data.{name} ({origin}) has no examples")
    return Split(texts, labels, origin)


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


def read_rows(path: Path, header: bool, origin: str | None = None) -> list[Row]:
    """Every example of a local TSV/CSV/JSONL file, checked: UTF-8, one JSON object per JSONL line, the same
    number of fields in every TSV/CSV row. Each error names the file and line."""
    origin = origin or str(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv", ".txt", ".jsonl", ".json"):
        raise DataError(f"{path}: unknown data format {suffix!r}; use .tsv, .csv, .jsonl or a save_to_disk folder")
    text = _utf8(path, origin)
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


def _utf8(path: Path, origin: str) -> str:
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


def _read_disk(path: Path, split: str | None, name: str) -> list[dict]:
    datasets = _import_datasets()
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise DataError(f"data.{name}: {path} is not a folder written by datasets' save_to_disk") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None or split not in ds:
            raise DataError(f"data.{name}: {path} holds splits {list(ds)}; name one as {{disk: {path}, split: …}}")
        ds = ds[split]
    return list(ds)


def _read_hub(source: HubSource) -> list[dict]:
    datasets = _import_datasets()
    try:
        return list(datasets.load_dataset(source.hub, source.config, split=source.split))
    except Exception as e:  # noqa: BLE001 - the hub raises many types (network, missing split, auth)
        raise DataError(f"could not load hub dataset {source.hub!r} ({source.config}, {source.split}): {e}") from None


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise DataError("reading save_to_disk folders or hub datasets needs `pip install datasets`") from None
    return datasets


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
