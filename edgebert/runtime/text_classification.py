"""Text classification with ONNX Runtime, tokenizers and numpy only (never torch): labels with scores, for
single texts or sentence pairs, and `rank` for a query against candidates (a cross-encoder reranker).

Batches inputs with dynamic padding (each batch padded to its longest member). An input is a string, or a pair
`(a, b)` that the model reads as one sequence with segment ids. It does not train, quantize or benchmark, and
imports nothing from edgebert outside edgebert.runtime.

    >>> clf = load("runs/sst2-minilm/dist")          # edgebert.runtime.load picks this class from the manifest
    >>> clf.predict(["a gripping, beautifully acted film"])
    [Prediction(label='1', score=0.98)]
    >>> load("runs/mrpc-minilm/dist").rank("Who wrote the report?", ["The report was written by Ann Smith.",
    ...                                                                "It rained all day in Paris."])
    [Ranked(index=0, text='The report was written by Ann Smith.', score=0.50…), Ranked(index=1, …, score=0.15…)]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgebert.runtime.binding import BoundRunner, device_of
from edgebert.runtime.errors import DistError
from edgebert.runtime.session import fixed_shape, make_session
from edgebert.runtime.tokenizer import TextEncoder

TASK = "text-classification"


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class Ranked:
    index: int  # the candidate's position in the list given
    text: str
    score: float


def as_batch(inputs) -> list:
    """One input (a string, or a tuple of two strings: one pair) as a batch of one; a list as it is."""
    if isinstance(inputs, str) or (
        isinstance(inputs, tuple) and len(inputs) == 2 and all(isinstance(t, str) for t in inputs)
    ):
        return [inputs]
    return list(inputs)


def rank_by(scores, candidates: list[str], top_k: int | None) -> list[Ranked]:
    """Candidates sorted by score, highest first (ties keep the given order), cut to `top_k`."""
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [Ranked(i, candidates[i], float(scores[i])) for i in order[:top_k]]


class TextClassifier:
    def __init__(
        self, session: ort.InferenceSession, encoder: TextEncoder, labels: list[str], io_binding=None, positive=None
    ):
        self.session = session
        if io_binding is None:
            io_binding = device_of(session) == "cuda"
        self.bound = BoundRunner(session) if io_binding else None
        self.encoder = encoder
        self.tokenizer = encoder.tokenizer
        self.labels = list(labels)
        # the label whose probability `rank` sorts by: the manifest's, else the second of two
        self.positive = positive if positive is not None else (self.labels[1] if len(self.labels) == 2 else None)
        self.max_length = encoder.max_length
        self.input_names = [i.name for i in session.get_inputs()]
        self.provider_message = f"using {session.get_providers()[0]}"
        self.fixed_batch, self.fixed_seq = fixed_shape(session)

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        if not isinstance(task.get("labels"), list) or not task["labels"]:
            raise DistError("edgebert.json has no 'task.labels' list: a text classifier needs its label names")
        return cls.from_session(
            session, tokenizer, task["labels"], task["max_length"], io_binding, task.get("positive")
        )

    @classmethod
    def from_session(cls, session, tokenizer: Path, labels, max_length: int, io_binding=None, positive=None):
        names = [i.name for i in session.get_inputs()]
        encoder = TextEncoder.from_file(tokenizer, max_length, names, fixed_shape(session)[1])
        return cls(session, encoder, labels, io_binding, positive)

    @classmethod
    def from_files(
        cls,
        model: Path,
        tokenizer_json: Path,
        labels: list[str],
        max_length: int,
        threads: int | None = None,
        providers: list[str] | None = None,
        graph_optimization: str = "all",
        io_binding: bool | None = None,
    ) -> TextClassifier:
        if not Path(tokenizer_json).is_file():
            raise DistError(f"tokenizer file {tokenizer_json} is missing")
        session = make_session(model, threads, providers=providers, graph_optimization=graph_optimization)
        return cls.from_session(session, tokenizer_json, labels, max_length, io_binding)

    def encode(self, texts: list) -> dict[str, np.ndarray]:
        """Token ids, attention mask and (if the model takes them) token type ids, padded to the longest input."""
        return self.encoder.feeds(texts)

    def truncated(self, texts: list) -> list[bool]:
        """Which texts are longer than the model reads (max_length tokens, or a fixed-shape model's length)."""
        return [bool(e.overflowing) for e in self.encoder.encode(list(texts))[1]]

    def logits(self, texts: list, batch_size: int = 32) -> np.ndarray:
        batch_size = self.fixed_batch or batch_size
        out = [self.run(self.encode(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, max(1, len(self.labels))), dtype=np.float32)

    def outputs(self, texts: list, batch_size: int = 32) -> dict[str, np.ndarray]:
        """Every output the task scores, by name (the seam evaluation and verification read)."""
        return {"logits": self.logits(texts, batch_size)}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's logits for encoded inputs (extra keys ignored), through I/O binding when it is on."""
        if self.bound is not None:
            return self.bound.run(feeds)
        return self.session.run(None, {name: feeds[name] for name in self.input_names})[0]

    def predict(self, texts, batch_size: int = 32) -> list[Prediction]:
        """The label and its probability for each input: a string, a pair (a, b), or a list of either."""
        probs = softmax(self.logits(as_batch(texts), batch_size))
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[i], float(p[i])) for i, p in zip(best, probs, strict=False)]

    def rank(self, query: str, candidates: list[str], top_k: int | None = None, batch_size: int = 32) -> list[Ranked]:
        """`candidates` sorted by the probability of the positive label for (query, candidate), highest first."""
        if self.positive not in self.labels:
            raise DistError(f"rank sorts by a positive label's probability; this model's labels are {self.labels}")
        probs = softmax(self.logits([(query, c) for c in candidates], batch_size))
        return rank_by(probs[:, self.labels.index(self.positive)], list(candidates), top_k)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
