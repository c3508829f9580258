"""Text classification with ONNX Runtime, tokenizers and numpy only (never torch).

Loads a `dist/` folder (model.onnx, tokenizer.json, edgebert.json), checks the model's sha256 against the
manifest, and predicts labels with scores, batching texts with dynamic padding (each batch padded to its
longest member). It does not train, quantize or benchmark, and imports nothing else from edgebert.

    >>> clf = load("runs/sst2-minilm/dist")
    >>> clf.predict(["a gripping, beautifully acted film"])
    [Prediction(label='1', score=0.98)]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MANIFEST = "edgebert.json"


class DistError(Exception):
    """A dist folder or model that cannot be used as asked; the message says what to fix."""

    exit_code = 2


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


def load(dist: str | Path, threads: int | None = None, verify: bool = True) -> TextClassifier:
    """Load a dist folder; `verify` checks the model file's sha256 against the manifest."""
    dist = Path(dist)
    manifest_path = dist / MANIFEST
    if not manifest_path.is_file():
        raise DistError(f"{dist} has no {MANIFEST}: point at the dist/ folder edgebert compress wrote")
    manifest = json.loads(manifest_path.read_text())
    model = dist / manifest["model"]["file"]
    if not model.is_file():
        raise DistError(f"{model} is missing from the dist folder")
    if verify:
        digest = _sha256(model)
        if digest != manifest["model"]["sha256"]:
            raise DistError(
                f"{model} does not match its manifest (sha256 {digest[:12]}… != {manifest['model']['sha256'][:12]}…):"
                " the file was changed after packaging; re-run edgebert compress or restore the file"
            )
    return TextClassifier.from_files(
        model, dist / manifest["tokenizer"], manifest["labels"], manifest["max_length"], threads=threads
    )


class TextClassifier:
    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, labels: list[str], max_length: int):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.max_length = max_length
        self.input_names = [i.name for i in session.get_inputs()]

    @classmethod
    def from_files(
        cls,
        model: Path,
        tokenizer_json: Path,
        labels: list[str],
        max_length: int,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> TextClassifier:
        if not Path(tokenizer_json).is_file():
            raise DistError(f"tokenizer file {tokenizer_json} is missing")
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        tokenizer.enable_truncation(max_length)
        pad_id = tokenizer.token_to_id("[PAD]") if tokenizer.token_to_id("[PAD]") is not None else 0
        tokenizer.enable_padding(pad_id=pad_id)
        return cls(make_session(model, threads, providers=providers), tokenizer, labels, max_length)

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Token ids, attention mask and (if the model takes them) token type ids, padded to the longest text."""
        enc = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        return {name: arrays[name] for name in self.input_names}

    def logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = [
            self.session.run(None, self.encode(texts[i : i + batch_size]))[0] for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, texts: list[str] | str, batch_size: int = 32) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        probs = softmax(self.logits(list(texts), batch_size))
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[i], float(p[i])) for i, p in zip(best, probs, strict=False)]


def make_session(
    model: str | Path, threads: int | None = None, optimized_path: str | None = None, providers: list[str] | None = None
) -> ort.InferenceSession:
    """An ORT session with full graph optimisation; `threads` sets intra-op threads (inter-op stays 1)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: ORT's warnings about saved optimised graphs are not the user's concern
    if threads:
        opts.intra_op_num_threads = threads
    if optimized_path:
        opts.optimized_model_filepath = optimized_path
    try:
        return ort.InferenceSession(str(model), opts, providers=providers or ["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
        raise DistError(f"ONNX Runtime cannot load {model}: {e}") from None


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
