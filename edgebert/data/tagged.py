"""Tokens with tags for token classification (NER): CoNLL files, JSONL with token and tag lists, and
`save_to_disk` folders or hub datasets whose tag column is a ClassLabel.

CoNLL: one token per line, its tag in the last column, a blank line between sentences, `-DOCSTART-` lines
skipped, LF or CRLF. Tags are read in IOB1, IOB2 (BIO) or IOBES (`data.scheme`, or detected: S-/E- tags mean
IOBES, an entity opened by I- means IOB1, else IOB2) and converted to IOB2, the scheme everything downstream
uses (seqeval's strict mode scores it). The entity types come from the train split; a type in eval or test that
train lacks is an error, as is a tag outside the scheme, a line with a different number of columns, a
sentence whose token and tag lists differ in length, and an empty split. It tokenizes nothing.

    >>> ds = load_tagged(recipe.data, recipe.path)
    >>> ds.types, ds.labels[:3], ds.train.words[0][:3], ds.train.tags[0][:3]
    (('LOC', 'MISC', 'ORG', 'PER'), ('O', 'B-LOC', 'I-LOC'), ['EU', 'rejects', 'German'], ['B-ORG', 'O', 'B-MISC'])
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgebert.data.rows import read_source, utf8_text
from edgebert.errors import DataError
from edgebert.recipe import DataConfig, Source

TAG = re.compile(r"^(O|([BIES])-(.+))$")
CONLL_SUFFIXES = (".conll", ".iob", ".iob1", ".iob2", ".bio", ".txt")


@dataclass(frozen=True)
class TagSplit:
    words: list[list[str]]
    tags: list[list[str]]  # IOB2
    origin: str

    def __len__(self) -> int:
        return len(self.words)

    @property
    def texts(self) -> list[str]:
        """Each sentence as one string, its words joined by spaces (what calibration and timing read)."""
        return [" ".join(w) for w in self.words]

    examples = texts  # what one model call reads (the seam the stages use): the sentence
    corpus = texts

    def head(self, n: int | None) -> TagSplit:
        return self if n is None or n >= len(self) else TagSplit(self.words[:n], self.tags[:n], self.origin)

    def rewritten(self, augment, mask_token: str | None) -> TagSplit:
        """`augment.copies` rewritten copies of each sentence with their tags (edgebert.data.augment.rewrite_tagged):
        labelled examples, which distillation adds to the train split."""
        from edgebert.data.augment import rewrite_tagged

        a = augment
        words, tags = rewrite_tagged(self.words, self.tags, a.copies, a.seed, a.mentions, a.mask, a.replace, mask_token)
        return TagSplit(words, tags, f"{self.origin}, rewritten")


@dataclass(frozen=True)
class TagDataset:
    train: TagSplit
    eval: TagSplit
    test: TagSplit
    labels: tuple[str, ...]  # "O", then B- and I- of each entity type
    types: tuple[str, ...]
    scheme: str  # the scheme the files were written in (converted to IOB2 here)
    notes: tuple[str, ...] = ()
    label_all_tokens: bool = False  # data.label_all_tokens: how training encodes words of several sub-tokens

    def label_ids(self, split: TagSplit) -> list[list[int]]:
        index = {name: i for i, name in enumerate(self.labels)}
        return [[index[t] for t in tags] for tags in split.tags]


@dataclass(frozen=True)
class _Sentence:
    words: list[str]
    tags: list[str]
    where: str  # "train.txt line 12": the sentence's first line


def load_tagged(cfg: DataConfig, resolve: Callable[[str], Path], seed: int = 42) -> TagDataset:
    """Load train/eval/test; a missing eval split is carved from train, a missing test split falls back to eval."""
    notes = []
    read = {n: _read(cfg, n, s, resolve) for n, s in (("train", cfg.train), ("eval", cfg.eval), ("test", cfg.test))}
    scheme = cfg.scheme if cfg.scheme != "auto" else _detect([s for split in read.values() if split for s in split[0]])
    splits = {n: _to_split(r, scheme) for n, r in read.items() if r is not None}
    train = splits["train"]
    if "eval" not in splits:
        train, splits["eval"] = _carve(train, cfg.eval_fraction, seed)
        notes.append(
            f"no data.eval: held out {len(splits['eval'])} train sentences ({cfg.eval_fraction:.0%}) for evaluation"
        )
    if "test" not in splits:
        splits["test"] = splits["eval"]
        notes.append("no data.test: test metrics are measured on the eval split")
    types = tuple(sorted({t[2:] for tags in train.tags for t in tags if t != "O"}))
    if not types:
        raise DataError(f"data.train ({train.origin}) has no entities: every tag is O")
    for name in ("eval", "test"):
        unseen = sorted({t[2:] for tags in splits[name].tags for t in tags if t != "O"} - set(types))
        if unseen:
            raise DataError(
                f"data.{name} ({splits[name].origin}) has entity types never seen in train: {', '.join(unseen)}; "
                f"train's types are {', '.join(types)}. Fix the tags or add training sentences."
            )
    labels = ("O", *(f"{p}-{t}" for t in types for p in "BI"))
    return TagDataset(train, splits["eval"], splits["test"], labels, types, scheme, tuple(notes), cfg.label_all_tokens)


def _read(cfg: DataConfig, name: str, source: Source | None, resolve) -> tuple[list[_Sentence], str] | None:
    if source is None:
        return None
    if isinstance(source, str) and resolve(source).is_file() and resolve(source).suffix.lower() in CONLL_SUFFIXES:
        sentences, origin = _read_conll(resolve(source), str(source)), str(source)
    else:
        rows, origin = read_source(source, name, cfg.header, resolve, names=True)
        sentences = [_from_row(row, cfg) for row in rows]
    if not sentences:
        raise DataError(f"data.{name} ({origin}) has no sentences")
    return sentences, origin


def _read_conll(path: Path, origin: str) -> list[_Sentence]:
    sentences, words, tags, start, columns = [], [], [], 0, None
    for n, line in enumerate(utf8_text(path, origin).splitlines(), 1):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                sentences.append(_Sentence(words, tags, f"{origin} line {start}"))
            words, tags = [], []
            continue
        columns = columns or len(parts)
        if len(parts) != columns or len(parts) < 2:
            raise DataError(
                f"{origin} line {n} has {len(parts)} columns where the file's first token line has {columns}: "
                "CoNLL needs one token per line, its tag in the last column, the same columns on every line"
            )
        if not words:
            start = n
        words.append(parts[0])
        tags.append(_tag(parts[-1], f"{origin} line {n}"))
    if words:
        sentences.append(_Sentence(words, tags, f"{origin} line {start}"))
    return sentences


def _from_row(row, cfg: DataConfig) -> _Sentence:
    values = row.values if isinstance(row.values, dict) else {}
    words, tags = values.get(cfg.tokens), values.get(cfg.tags)
    for field, value in ((f"data.tokens={cfg.tokens!r}", words), (f"data.tags={cfg.tags!r}", tags)):
        if not isinstance(value, list) or not value:
            raise DataError(f"{row.where}: {field} must be a non-empty list (columns: {', '.join(values)})")
    if len(words) != len(tags):
        raise DataError(f"{row.where}: {len(words)} tokens but {len(tags)} tags; each token needs one tag")
    return _Sentence([str(w) for w in words], [_tag(str(t), row.where) for t in tags], row.where)


def _tag(tag: str, where: str) -> str:
    if not TAG.match(tag):
        raise DataError(f"{where}: tag {tag!r} is not O or B-/I-/E-/S- followed by an entity type")
    return tag


def _detect(sentences: list[_Sentence]) -> str:
    prefixes = {t[0] for s in sentences for t in s.tags}
    if prefixes & {"E", "S"}:
        return "iobes"
    for s in sentences:
        for prev, tag in zip(["O", *s.tags], s.tags, strict=False):
            if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
                return "iob1"
    return "iob2"


def _to_split(read: tuple[list[_Sentence], str], scheme: str) -> TagSplit:
    sentences, origin = read
    return TagSplit([s.words for s in sentences], [to_iob2(s.tags, scheme, s.where) for s in sentences], origin)


def to_iob2(tags: list[str], scheme: str, where: str = "") -> list[str]:
    """IOB1 or IOBES tags as IOB2: ["I-PER", "I-PER", "O", "I-LOC"] (iob1) -> ["B-PER", "I-PER", "O", "B-LOC"]."""
    out, prev = [], "O"
    for tag in tags:
        kind, _, name = tag.partition("-")
        if scheme != "iobes" and kind in ("E", "S"):
            raise DataError(f"{where}: tag {tag!r} is IOBES, but the data is read as {scheme}; set data.scheme: iobes")
        if scheme == "iob2" and kind == "I" and (prev == "O" or prev[2:] != name):
            raise DataError(
                f"{where}: {tag!r} opens an entity, which IOB2 does not allow (IOB1 does): set data.scheme: iob1"
            )
        if scheme == "iobes":
            kind = {"S": "B", "E": "I"}.get(kind, kind)
        elif scheme == "iob1" and kind == "I" and (prev == "O" or prev[2:] != name):
            kind = "B"
        new = "O" if tag == "O" else f"{kind}-{name}"
        out.append(new)
        prev = new
    return out


def _carve(train: TagSplit, fraction: float, seed: int) -> tuple[TagSplit, TagSplit]:
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, int(len(order) * fraction))

    def pick(idx: list[int], origin: str) -> TagSplit:
        return TagSplit([train.words[i] for i in idx], [train.tags[i] for i in idx], origin)

    return pick(order[n_dev:], train.origin), pick(order[:n_dev], f"{train.origin} (held out)")


def conll_sentences(path: Path, origin: str) -> list[list[str]]:
    """The words of every sentence of a CoNLL file (unlabelled text for distillation), read as strictly as data."""
    return [sentence.words for sentence in _read_conll(path, origin)]


def read_tagged_file(path: Path, scheme: str = "auto") -> TagSplit:
    """Every sentence of one CoNLL or JSONL file (for `edgebert check --data`), tags as IOB2."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--data {path} not found")
    read = _read(DataConfig(train=str(path), scheme=scheme), "--data", str(path), lambda p: Path(p))
    return _to_split(read, scheme if scheme != "auto" else _detect(read[0]))
