"""Package stage: the deployable folder an app embeds.

    dist/model.onnx        the shipped model (INT8 unless quantize.mode is none)
    dist/model.single.onnx with export.single_file: the tokenizer in the graph (onnxruntime-extensions)
    dist/model.mobile.onnx with export.mobile: fixed-shape static INT8 for NNAPI/CoreML, + model.mobile.ort
                           (ORT format) and required_operators.config (for a reduced ORT build)
    dist/tokenizer.json    + tokenizer_config.json, special_tokens_map.json, vocab
    dist/config.json       the model config with id2label (Optimum's ORTModelFor… loads the folder as is)
    dist/edgebert.json     manifest: format version, task, labels, inputs, sha256, metrics, fusions, versions

The manifest format is versioned (`format_version`); readers must refuse versions they do not know.
It measures nothing; it records what the earlier stages measured.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from pathlib import Path

from edgebert.runs import read_json, sha256_file, write_json

MANIFEST_VERSION = 1
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
VERSIONED = ("edgebert", "onnxruntime", "onnx", "torch", "transformers", "optimum-onnx", "tokenizers", "numpy")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_dist(out: Path, model: Path, student_dir: Path, manifest: dict, mobile: Path | None = None) -> dict:
    """Copy the model, tokenizer and config into `out` and write edgebert.json; returns the manifest written.
    `mobile` is the fixed-shape INT8 model for phones, shipped beside model.onnx as model.mobile.onnx."""
    shutil.copyfile(model, out / "model.onnx")
    if mobile:
        shutil.copyfile(mobile, out / "model.mobile.onnx")
        shutil.copyfile(mobile.parent / "model.mobile.ort", out / "model.mobile.ort")
        shutil.copyfile(mobile.parent / "required_operators.config", out / "required_operators.config")
        manifest = manifest | {
            "mobile_model": manifest["mobile_model"]
            | {"sha256": sha256_file(out / "model.mobile.onnx"), "bytes": (out / "model.mobile.onnx").stat().st_size}
        }
    for name in TOKENIZER_FILES:
        if (student_dir / name).is_file():
            shutil.copyfile(student_dir / name, out / name)
    shutil.copyfile(student_dir / "config.json", out / "config.json")
    full = {
        "format": "edgebert-manifest",
        "format_version": MANIFEST_VERSION,
        **manifest,
        "model": {
            "file": "model.onnx",
            "sha256": sha256_file(out / "model.onnx"),
            "bytes": (out / "model.onnx").stat().st_size,
        },
        "tokenizer": "tokenizer.json",
        "versions": library_versions(),
    }
    write_json(out / "edgebert.json", full)
    return full


def add_single_file(out: Path, texts: list[str], max_length: int) -> dict:
    """dist/model.single.onnx (tokenizer in the graph), verified on `texts`, recorded in the manifest."""
    from edgebert.single_file import build, verify

    build(out / "model.onnx", out, out / "model.single.onnx", max_length)
    check = verify(out / "model.single.onnx", out / "model.onnx", out / "tokenizer.json", texts, max_length)
    manifest = read_json(out / "edgebert.json")
    manifest["single_file"] = {
        "file": "model.single.onnx",
        "sha256": sha256_file(out / "model.single.onnx"),
        "bytes": (out / "model.single.onnx").stat().st_size,
        "input": "text: string [1], one sentence per call",
        "needs": "onnxruntime-extensions (register_custom_ops_library(get_library_path()))",
        "verified": check,
    }
    write_json(out / "edgebert.json", manifest)
    return manifest["single_file"]
