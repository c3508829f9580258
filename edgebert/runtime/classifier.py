"""Text classification with ONNX Runtime, tokenizers and numpy only (never torch).

Loads a `dist/` folder (model.onnx, tokenizer.json, edgebert.json), checks the model's sha256 against the
manifest, and predicts labels with scores, batching texts with dynamic padding (each batch padded to its
longest member). It does not train, quantize or benchmark, and imports nothing from edgebert outside
edgebert.runtime.

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

from edgebert.runtime.binding import BoundRunner, device_of
from edgebert.runtime.errors import DistError
from edgebert.runtime.providers import choose, used

MANIFEST = "edgebert.json"


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


def load(
    dist: str | Path,
    threads: int | None = None,
    verify: bool = True,
    providers: list[str] | None = None,
    strict: bool = False,
    graph_optimization: str = "all",
    mobile: bool = False,
    io_binding: bool | None = None,
) -> TextClassifier:
    """Load a dist folder; `verify` checks the model file's sha256 against the manifest; `mobile` loads
    model.mobile.onnx (fixed shape, static INT8) instead of model.onnx.

    `providers` is a preference list of short names (tensorrt, cuda, coreml, nnapi, xnnpack, cpu); the ones
    this onnxruntime lacks are skipped (an error with `strict`), CPU is the fallback, and `.provider_message`
    says what was used. `graph_optimization`: all, extended, basic or disabled. `io_binding` (default: on when
    the session runs on CUDA or TensorRT) keeps outputs in device memory and copies back only the logits."""
    dist = Path(dist)
    manifest_path = dist / MANIFEST
    if not manifest_path.is_file():
        raise DistError(f"{dist} has no {MANIFEST}: point at the dist/ folder edgebert compress wrote")
    manifest = json.loads(manifest_path.read_text())
    if mobile and "mobile_model" not in manifest:
        raise DistError(f"{dist} has no mobile model: build it with export.mobile: true in the recipe")
    entry = manifest["mobile_model"] if mobile else manifest["model"]
    model = dist / entry["file"]
    if not model.is_file():
        raise DistError(f"{model} is missing from the dist folder")
    if verify:
        digest = _sha256(model)
        if digest != entry["sha256"]:
            raise DistError(
                f"{model} does not match its manifest (sha256 {digest[:12]}… != {entry['sha256'][:12]}…):"
                " the file was changed after packaging; re-run edgebert compress or restore the file"
            )
    chosen, message = choose(providers or ["cpu"], strict)
    clf = TextClassifier.from_files(
        model,
        dist / manifest["tokenizer"],
        manifest["labels"],
        manifest["max_length"],
        threads=threads,
        providers=chosen,
        graph_optimization=graph_optimization,
        io_binding=io_binding,
    )
    clf.provider_message = used(clf.session, chosen) if len(chosen) > 1 else message
    return clf


class TextClassifier:
    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        labels: list[str],
        max_length: int,
        io_binding: bool | None = None,
    ):
        self.session = session
        if io_binding is None:
            io_binding = device_of(session) == "cuda"
        self.bound = BoundRunner(session) if io_binding else None
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.max_length = max_length
        self.input_names = [i.name for i in session.get_inputs()]
        self.provider_message = f"using {session.get_providers()[0]}"
        # a fixed-shape model (the mobile form) takes exactly [batch, seq]: pad to seq, run `batch` texts a call
        shape = session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.fixed_seq = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None
        if self.fixed_seq:
            tokenizer.enable_truncation(min(max_length, self.fixed_seq))
            tokenizer.enable_padding(pad_id=tokenizer.padding["pad_id"], length=self.fixed_seq)

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
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        tokenizer.enable_truncation(max_length)
        pad_id = tokenizer.token_to_id("[PAD]") if tokenizer.token_to_id("[PAD]") is not None else 0
        tokenizer.enable_padding(pad_id=pad_id)
        session = make_session(model, threads, providers=providers, graph_optimization=graph_optimization)
        return cls(session, tokenizer, labels, max_length, io_binding)

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
        batch_size = self.fixed_batch or batch_size
        out = [self.run(self.encode(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

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


OPTIMIZATION = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def make_session(
    model: str | Path,
    threads: int | None = None,
    optimized_path: str | None = None,
    providers: list[str] | None = None,
    graph_optimization: str = "all",
) -> ort.InferenceSession:
    """An ORT session (full graph optimisation unless told); `threads` sets intra-op threads (inter-op stays 1)."""
    if graph_optimization not in OPTIMIZATION:
        raise DistError(f"graph optimisation {graph_optimization!r}: choose from {', '.join(OPTIMIZATION)}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = OPTIMIZATION[graph_optimization]
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
