"""Token classification (NER) with ONNX Runtime, tokenizers and numpy only (never torch): entities with
character spans from raw text, or a tag per word for pre-split words.

Words are the tokenizer's pre-tokenized words (a BERT tokenizer splits on spaces and punctuation), each tagged
by its sub-tokens' logits: `first` (the first sub-token's, as transformers' pipeline with
aggregation_strategy="first"), `average` or `max` (of the sub-tokens' probabilities). Entities are runs of
words with one type, opened by B- or by a change of type (IOB2, read leniently as transformers does); an
entity's score is the mean of its words' scores. A text longer than the model's `max_length` is cut into
overlapping windows (`stride` tokens shared), and each word takes its tags from the window where it sits
furthest from an edge, so nothing is silently truncated. It imports nothing from edgebert outside
edgebert.runtime.

    >>> ner = load("runs/conll03-minilm/dist")
    >>> ner.predict(["Angela Merkel visited Paris."])
    [[Entity(label='PER', start=0, end=13, text='Angela Merkel', score=0.99), Entity(label='LOC', ...)]]
    >>> ner.tag([["Angela", "Merkel", "visited", "Paris", "."]])
    [['B-PER', 'I-PER', 'O', 'B-LOC', 'O']]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from edgebert.runtime.binding import BoundRunner, device_of
from edgebert.runtime.errors import DistError
from edgebert.runtime.session import fixed_shape, make_session
from edgebert.runtime.text_classification import softmax

TASK = "token-classification"
AGGREGATIONS = ("first", "average", "max")


@dataclass(frozen=True)
class Entity:
    label: str
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class _Words:
    """Per word of one text: its tag, its score, and its character span (for raw text)."""

    tags: list[str]
    scores: list[float]
    spans: list[tuple[int, int]]


class TokenClassifier:
    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        labels: list[str],
        max_length: int,
        stride: int | None = None,
        aggregation: str = "first",
        io_binding: bool | None = None,
    ):
        if aggregation not in AGGREGATIONS:
            raise DistError(f"aggregation {aggregation!r}: choose from {', '.join(AGGREGATIONS)}")
        self.session = session
        self.bound = (
            BoundRunner(session) if (io_binding if io_binding is not None else device_of(session) == "cuda") else None
        )
        self.labels = list(labels)
        self.input_names = [i.name for i in session.get_inputs()]
        self.fixed_batch, self.fixed_seq = fixed_shape(session)
        self.max_length = min(max_length, self.fixed_seq) if self.fixed_seq else max_length
        self.stride = stride if stride is not None else self.max_length // 4
        self.aggregation = aggregation
        self.tokenizer = tokenizer
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_length, stride=self.stride)
        self.pad_id = tokenizer.token_to_id("[PAD]") if tokenizer.token_to_id("[PAD]") is not None else 0
        self.provider_message = f"using {session.get_providers()[0]}"

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        if not isinstance(task.get("labels"), list) or not task["labels"]:
            raise DistError("edgebert.json has no 'task.labels' list: a token classifier needs its tag names")
        return cls(
            session,
            _tokenizer(tokenizer),
            task["labels"],
            task["max_length"],
            task.get("stride"),
            task.get("aggregation", "first"),
            io_binding,
        )

    @classmethod
    def from_files(cls, model: Path, tokenizer_json: Path, labels: list[str], max_length: int, threads=None, **session):
        io_binding = session.pop("io_binding", None)
        onnx = make_session(model, threads, **session)
        return cls(onnx, _tokenizer(tokenizer_json), labels, max_length, io_binding=io_binding)

    # the API apps call
    def predict(self, texts: list[str] | str, batch_size: int = 32) -> list[list[Entity]]:
        """Entities with character spans in each text."""
        if isinstance(texts, str):
            texts = [texts]
        encodings = [self.tokenizer.encode(t) for t in texts]
        words = self._words(encodings, batch_size)
        return [_entities(text, w) for text, w in zip(texts, words, strict=True)]

    def tag(self, sentences: list[list[str]], batch_size: int = 32) -> list[list[str]]:
        """A tag per word of pre-split sentences (words a tokenizer would split further are tagged as one)."""
        encodings = [self.tokenizer.encode(list(words), is_pretokenized=True) for words in sentences]
        tagged = self._words(encodings, batch_size)
        out = []
        for words, w in zip(sentences, tagged, strict=True):
            tags = list(w.tags) + ["O"] * (len(words) - len(w.tags))  # a word the tokenizer dropped (no pieces)
            out.append(tags[: len(words)])
        return out

    def outputs(self, texts: list[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """The logits of every real token of every text, stacked: [tokens, labels] (what export checks compare)."""
        windows = [w for t in texts for w in _windows(self.tokenizer.encode(t))]
        logits = self._run_windows(windows, batch_size)
        return {"logits": np.concatenate([lg[: len(w.ids)] for lg, w in zip(logits, windows, strict=True)])}

    def truncated(self, texts: list[str]) -> list[bool]:
        """Always all False: long texts are read in overlapping windows, never cut."""
        return [False] * len(texts)

    # internals
    def _words(self, encodings: list[Encoding], batch_size: int) -> list[_Words]:
        windows = [(i, w) for i, e in enumerate(encodings) for w in _windows(e)]
        logits = self._run_windows([w for _, w in windows], batch_size)
        best: list[dict[int, tuple[int, np.ndarray, tuple[int, int]]]] = [{} for _ in encodings]
        for (i, window), lg in zip(windows, logits, strict=True):
            _collect(best[i], window, lg, self.aggregation)
        return [self._label(b) for b in best]

    def _label(self, best: dict[int, tuple[int, np.ndarray, tuple[int, int]]]) -> _Words:
        tags, scores, spans = [], [], []
        for word in sorted(best):
            _, probs, span = best[word]
            k = int(probs.argmax())
            tags.append(self.labels[k])
            scores.append(float(probs[k]))
            spans.append(span)
        return _Words(tags, scores, spans)

    def _run_windows(self, windows: list[Encoding], batch_size: int) -> list[np.ndarray]:
        batch_size = self.fixed_batch or batch_size
        out = []
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            feeds = self._feeds(chunk)
            logits = self.bound.run(feeds) if self.bound else self.session.run(None, feeds)[0]
            out.extend(np.asarray(logits, dtype=np.float32))
        return out

    def _feeds(self, chunk: list[Encoding]) -> dict[str, np.ndarray]:
        length = self.fixed_seq or max(len(e.ids) for e in chunk)
        pad = lambda rows, value: np.array([r + [value] * (length - len(r)) for r in rows], dtype=np.int64)  # noqa: E731
        arrays = {
            "input_ids": pad([e.ids for e in chunk], self.pad_id),
            "attention_mask": pad([e.attention_mask for e in chunk], 0),
            "token_type_ids": pad([e.type_ids for e in chunk], 0),
        }
        return {name: arrays[name] for name in self.input_names}


def _tokenizer(path: Path) -> Tokenizer:
    if not Path(path).is_file():
        raise DistError(f"tokenizer file {path} is missing")
    return Tokenizer.from_file(str(path))


def _windows(encoding: Encoding) -> list[Encoding]:
    return [encoding, *encoding.overflowing]


def _collect(best: dict, window: Encoding, logits: np.ndarray, aggregation: str) -> None:
    """Per word in this window: its probabilities by `aggregation` and its span; kept when the word sits further
    from the window's edges than in the windows seen before."""
    ids = window.word_ids
    n = len(ids)
    probs = softmax(logits[:n])
    for word in {w for w in ids if w is not None}:
        positions = [p for p, w in enumerate(ids) if w == word]
        first = positions[0]
        margin = min(first, n - 1 - positions[-1])
        if word in best and best[word][0] >= margin:
            continue
        if aggregation == "first":
            p = probs[first]
        elif aggregation == "average":
            p = probs[positions].mean(axis=0)
        else:  # max: the sub-token with the most confident label
            p = probs[positions[int(probs[positions].max(axis=1).argmax())]]
        span = (window.offsets[first][0], window.offsets[positions[-1]][1])
        best[word] = (margin, p, span)


def _entities(text: str, words: _Words) -> list[Entity]:
    groups: list[tuple[str, list[int]]] = []
    for k, tag in enumerate(words.tags):
        if tag == "O":
            groups.append(("O", [k]))
            continue
        kind, _, name = tag.partition("-")
        if groups and groups[-1][0] == name and kind != "B":
            groups[-1][1].append(k)
        else:
            groups.append((name, [k]))
    out = []
    for name, members in groups:
        if name == "O":
            continue
        start, end = words.spans[members[0]][0], words.spans[members[-1]][1]
        score = float(np.mean([words.scores[k] for k in members]))
        out.append(Entity(name, start, end, text[start:end], score))
    return out
