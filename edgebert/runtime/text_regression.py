"""Text regression with ONNX Runtime, tokenizers and numpy only (never torch): one score per input (a text, or a
pair read as one sequence), and `rank` for a query against candidates: a cross-encoder reranker or a similarity
scorer. The model gives a logit; the score is `low + (high - low) * sigmoid(logit)` over the manifest's
`score_range` (the raw logit without one). Shares the classifier's batching, encoding and I/O binding.

    >>> sts = load("runs/stsb-cross-encoder/dist")
    >>> sts.predict([("A man is playing a flute.", "A man plays the flute.")])
    [4.38…]
    >>> sts.rank("A man is playing a flute.", ["A dog runs.", "Someone plays a flute."], top_k=1)
    [Ranked(index=1, text='Someone plays a flute.', score=4.25…)]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgebert.runtime.text_classification import Ranked, TextClassifier, as_batch, rank_by

TASK = "text-regression"


def to_score(logits: np.ndarray, score_range) -> np.ndarray:
    """Logits to scores in the data's units: `low + (high - low) * sigmoid(logit)`; the logits without a range."""
    if score_range is None:
        return np.asarray(logits, np.float64)
    low, high = score_range
    return low + (high - low) / (1.0 + np.exp(-np.asarray(logits, np.float64)))


class TextRegressor(TextClassifier):
    score_range: tuple[float, float] | None = None

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        model = cls.from_session(session, tokenizer, [], task["max_length"], io_binding)
        if task.get("score_range") is not None:
            model.score_range = tuple(task["score_range"])
        return model

    @classmethod
    def from_files(cls, model: Path, tokenizer_json: Path, max_length: int, threads=None, **session) -> TextRegressor:
        """The regressor for an ONNX file (no label names; `session`: providers, graph_optimization, io_binding)."""
        return super().from_files(model, tokenizer_json, [], max_length, threads, **session)

    def scores(self, texts, batch_size: int = 32) -> np.ndarray:
        """One score per input, in the data's units."""
        logits = self.logits(as_batch(texts), batch_size)
        return to_score(logits.reshape(len(logits), -1)[:, 0], self.score_range)

    def predict(self, texts, batch_size: int = 32) -> list[float]:  # type: ignore[override]
        """The score of each input: a string, a pair (a, b), or a list of either."""
        return [float(s) for s in self.scores(texts, batch_size)]

    def rank(self, query: str, candidates: list[str], top_k: int | None = None, batch_size: int = 32) -> list[Ranked]:
        """`candidates` sorted by the score of (query, candidate), highest first."""
        return rank_by(self.scores([(query, c) for c in candidates], batch_size), list(candidates), top_k)
