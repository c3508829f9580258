"""Text classification with ONNX Runtime, tokenizers and numpy only (never torch): labels with scores.

Batches texts with dynamic padding (each batch padded to its longest member). It does not train, quantize or
benchmark, and imports nothing from edgebert outside edgebert.runtime.

    >>> clf = load("runs/sst2-minilm/dist")          # edgebert.runtime.load picks this class from the manifest
    >>> clf.predict(["a gripping, beautifully acted film"])
    [Prediction(label='1', score=0.98)]
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


class TextClassifier:
    def __init__(self, session: ort.InferenceSession, encoder: TextEncoder, labels: list[str], io_binding=None):
        self.session = session
        if io_binding is None:
            io_binding = device_of(session) == "cuda"
        self.bound = BoundRunner(session) if io_binding else None
        self.encoder = encoder
        self.tokenizer = encoder.tokenizer
        self.labels = list(labels)
        self.max_length = encoder.max_length
        self.input_names = [i.name for i in session.get_inputs()]
        self.provider_message = f"using {session.get_providers()[0]}"
        self.fixed_batch, self.fixed_seq = fixed_shape(session)

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        if not isinstance(task.get("labels"), list) or not task["labels"]:
            raise DistError("edgebert.json has no 'task.labels' list: a text classifier needs its label names")
        return cls.from_session(session, tokenizer, task["labels"], task["max_length"], io_binding)

    @classmethod
    def from_session(cls, session, tokenizer: Path, labels: list[str], max_length: int, io_binding=None):
        names = [i.name for i in session.get_inputs()]
        encoder = TextEncoder.from_file(tokenizer, max_length, names, fixed_shape(session)[1])
        return cls(session, encoder, labels, io_binding)

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

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids, attention mask and (if the model takes them) token type ids, padded to the longest text."""
        return self.encoder.feeds(texts)

    def truncated(self, texts: list[str]) -> list[bool]:
        """Which texts are longer than the model reads (max_length tokens, or a fixed-shape model's length)."""
        return [bool(e.overflowing) for e in self.encoder.encode(list(texts))[1]]

    def logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        batch_size = self.fixed_batch or batch_size
        out = [self.run(self.encode(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def outputs(self, texts: list[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Every output the task scores, by name (the seam evaluation and verification read)."""
        return {"logits": self.logits(texts, batch_size)}

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's logits for encoded inputs (extra keys ignored), through I/O binding when it is on."""
        if self.bound is not None:
            return self.bound.run(feeds)
        return self.session.run(None, {name: feeds[name] for name in self.input_names})[0]

    def predict(self, texts: list[str] | str, batch_size: int = 32) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        probs = softmax(self.logits(list(texts), batch_size))
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[i], float(p[i])) for i, p in zip(best, probs, strict=False)]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
