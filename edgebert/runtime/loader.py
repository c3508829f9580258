"""`load(dist)`: read and verify a dist folder's manifest, open the model with the preferred execution
providers, and return the predictor of the manifest's task. onnxruntime, tokenizers and numpy only.

    >>> model = load("runs/quickstart/dist")         # a TextClassifier for task text-classification
    >>> model.predict(["A gripping, beautifully acted film."])
"""

from __future__ import annotations

import importlib
from pathlib import Path

from edgebert.runtime.errors import DistError
from edgebert.runtime.manifest import read_manifest
from edgebert.runtime.providers import choose, used
from edgebert.runtime.session import make_session

# task name -> "module:class" of its predictor; each class has from_manifest(session, tokenizer, task, io_binding)
PREDICTORS = {
    "text-classification": "edgebert.runtime.text_classification:TextClassifier",
    "text-regression": "edgebert.runtime.text_regression:TextRegressor",
    "token-classification": "edgebert.runtime.token_classification:TokenClassifier",
    "sentence-embedding": "edgebert.runtime.sentence_embedding:Embedder",
    "question-answering": "edgebert.runtime.question_answering:QuestionAnswerer",
}


def predictor_class(task: str) -> type:
    if task not in PREDICTORS:
        raise DistError(
            f"edgebert.json names task {task!r}, which this edgebert cannot run (it runs {', '.join(PREDICTORS)}): "
            "upgrade edgebert"
        )
    module, _, name = PREDICTORS[task].partition(":")
    return getattr(importlib.import_module(module), name)


def load(
    dist: str | Path,
    threads: int | None = None,
    verify: bool = True,
    providers: list[str] | None = None,
    strict: bool = False,
    graph_optimization: str = "all",
    mobile: bool = False,
    io_binding: bool | None = None,
):
    """Load a dist folder; `verify` checks every shipped file's sha256 against the manifest; `mobile` loads
    model.mobile.onnx (fixed shape, static INT8) instead of model.onnx.

    `providers` is a preference list of short names (tensorrt, cuda, coreml, nnapi, xnnpack, cpu); the ones
    this onnxruntime lacks are skipped (an error with `strict`), CPU is the fallback, and `.provider_message`
    says what was used. `graph_optimization`: all, extended, basic or disabled. `io_binding` (default: on when
    the session runs on CUDA or TensorRT) keeps outputs in device memory and copies back only the outputs."""
    dist = Path(dist)
    manifest = read_manifest(dist, verify)
    cls = predictor_class(manifest["task"]["name"])
    if mobile and "mobile_model" not in manifest:
        raise DistError(f"{dist} has no mobile model: build it with export.mobile: true in the recipe")
    model = dist / (manifest["mobile_model"] if mobile else manifest["model"])["file"]
    if not model.is_file():
        raise DistError(f"{model} is missing from the dist folder")
    chosen, message = choose(providers or ["cpu"], strict)
    session = make_session(model, threads, providers=chosen, graph_optimization=graph_optimization)
    predictor = cls.from_manifest(session, dist / manifest["tokenizer"]["file"], manifest["task"], io_binding)
    predictor.provider_message = used(session, chosen) if len(chosen) > 1 else message
    predictor.manifest = manifest
    return predictor
