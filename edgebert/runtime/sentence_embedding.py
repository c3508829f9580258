"""Sentence embeddings with ONNX Runtime, tokenizers and numpy only (never torch): one vector per text.

The model takes the tokenizer's outputs and returns `sentence_embedding` [batch, dim], pooled (and L2-normalised
when the teacher normalises) inside the graph, so nothing here pools: an app in any language feeds token ids
and reads the vector. Texts are embedded in batches of similar length (sorted, dynamic padding) and returned in
input order. It does not train, quantize or benchmark, and imports nothing from edgebert outside edgebert.runtime.

    >>> emb = load("runs/minilm-embeddings/dist")     # edgebert.runtime.load picks this class from the manifest
    >>> emb.embed(["a sentence", "another"]).shape
    (2, 384)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgebert.runtime.errors import DistError
from edgebert.runtime.session import fixed_shape, make_session
from edgebert.runtime.tokenizer import TextEncoder

TASK = "sentence-embedding"
OUTPUT = "sentence_embedding"


class Embedder:
    def __init__(self, session: ort.InferenceSession, encoder: TextEncoder, normalized: bool = True):
        outputs = [o.name for o in session.get_outputs()]
        if OUTPUT not in outputs:
            raise DistError(f"the model has no {OUTPUT!r} output (it has {', '.join(outputs)}): not an embedder")
        self.session, self.encoder, self.normalized = session, encoder, normalized
        self.tokenizer, self.max_length = encoder.tokenizer, encoder.max_length
        self.input_names = [i.name for i in session.get_inputs()]
        self.provider_message = f"using {session.get_providers()[0]}"
        self.fixed_batch, self.fixed_seq = fixed_shape(session)
        self.dim = session.get_outputs()[outputs.index(OUTPUT)].shape[-1]

    @classmethod
    def from_manifest(cls, session: ort.InferenceSession, tokenizer: Path, task: dict, io_binding=None):
        return cls.from_session(session, tokenizer, task["max_length"], bool(task.get("normalize", True)))

    @classmethod
    def from_session(cls, session, tokenizer: Path, max_length: int, normalized: bool = True) -> Embedder:
        names = [i.name for i in session.get_inputs()]
        return cls(session, TextEncoder.from_file(tokenizer, max_length, names, fixed_shape(session)[1]), normalized)

    @classmethod
    def from_files(
        cls,
        model: Path,
        tokenizer_json: Path,
        max_length: int,
        threads: int | None = None,
        providers: list[str] | None = None,
        graph_optimization: str = "all",
        normalized: bool = True,
    ) -> Embedder:
        if not Path(tokenizer_json).is_file():
            raise DistError(f"tokenizer file {tokenizer_json} is missing")
        session = make_session(model, threads, providers=providers, graph_optimization=graph_optimization)
        return cls.from_session(session, tokenizer_json, max_length, normalized)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The model's sentence_embedding for encoded inputs (extra keys ignored)."""
        return self.session.run([OUTPUT], {name: feeds[name] for name in self.input_names})[0]

    def embed(self, texts: list[str] | str, batch_size: int = 32) -> np.ndarray:
        """float32 [len(texts), dim], in input order; batches hold texts of similar length."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        batch_size = self.fixed_batch or batch_size
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = None
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors = self.run(self.encoder.feeds([texts[i] for i in rows]))
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[rows] = vectors
        return out if out is not None else np.zeros((0, self.dim if isinstance(self.dim, int) else 0), np.float32)

    def outputs(self, texts: list[str], batch_size: int = 32) -> dict[str, np.ndarray]:
        """Every output the task scores, by name (the seam evaluation and verification read)."""
        return {OUTPUT: self.embed(texts, batch_size)}
