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


def _read(cfg: DataConfig, name: str, source: Source, resolve: Callable[[str], Path]) -> Split:
    if isinstance(source, HubSource):
        rows, origin = _read_hub(source), f"hub:{source.hub}/{source.config or ''}:{source.split}"
    elif isinstance(source, DiskSource):
        rows, origin = _read_disk(resolve(source.disk), source.split, name), source.disk
    else:
        path = resolve(source)
        origin = str(source)
        if path.is_dir():
            rows = _read_disk(path, None, name)
        elif not path.is_file():
            raise DataError(f"data.{name}: file {path} not found. Fix the path (relative to the recipe's folder).")
        else:
            rows = _read_file(path, cfg.header)
    texts, labels = [], []
    for i, row in enumerate(rows):
        text, label = _field(row, cfg.text, "text", name, origin, i), _field(row, cfg.label, "label", name, origin, i)
        if label is None or str(label).strip() == "":
            raise DataError(f"data.{name} ({origin}) row {i + 1} has an empty label")
        texts.append(str(text).strip())
        labels.append(str(label).strip())
    if not texts:
        raise DataError(f"data.{name} ({origin}) has no examples")
    return Split(texts, labels, origin)


def _field(row: dict | list, column: str | int, role: str, split: str, origin: str, i: int) -> object:
    try:
        return row[column]
    except (KeyError, IndexError, TypeError):
        pass
    if isinstance(row, dict):
        have = ", ".join(map(str, row))
        raise DataError(
            f"data.{split} ({origin}) has no column {column!r} for data.{role}; columns are: {have}. "
            f"Set data.{role} to one of them."
        )
    raise DataError(
        f"data.{split} ({origin}) row {i + 1} has {len(row)} columns, so data.{role}={column!r} does not exist; "
        "with data.header: false, data.text and data.label are column indices from 0."
    )


def _read_file(path: Path, header: bool) -> list[dict | list]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path} line {n} is not JSON ({e.msg}); JSONL needs one object per line") from None
        return rows
    if suffix not in (".tsv", ".csv", ".txt"):
        raise DataError(f"{path}: unknown data format {suffix!r}; use .tsv, .csv, .jsonl or a save_to_disk folder")
    with path.open(encoding="utf-8", newline="") as f:
        # TSV text often holds stray quotes (SST-2 does): read it unquoted; CSV keeps standard quoting
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if suffix != ".csv" else csv.reader(f)
        rows = [r for r in reader if r]
    if not header:
        return rows
    if not rows:
        return []
    names = [c.strip() for c in rows[0]]
    return [dict(zip(names, r, strict=False)) for r in rows[1:]]


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
    """(texts, labels as strings) from one local TSV/CSV/JSONL file with a header, for checks outside a recipe."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--data {path} not found")
    rows = _read_file(path, header=True)
    texts = [str(_field(r, text, "text", "check", str(path), i)).strip() for i, r in enumerate(rows)]
    labels = [str(_field(r, label, "label", "check", str(path), i)).strip() for i, r in enumerate(rows)]
    if not texts:
        raise DataError(f"--data {path} has no examples")
    return texts, labels
