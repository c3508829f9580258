"""Reading and validating a dist folder's manifest, `edgebert.json`. Standard library only.

Version 2 (written since the task seam) holds a `task` block (name, max_length, and the task's own keys such
as labels), metrics keyed by metric name, and a `files` table with the sha256 and size of every shipped file.
Version 1 (text classification only) still loads: it is upgraded in memory to the v2 shape, with the one hash
it recorded (the model's). Every problem is one DistError line naming the key or file, never a JSON or
KeyError traceback: paths must be plain file names inside the dist folder, and every listed file must match
its hash. It loads no model.

    >>> manifest = read_manifest(Path("runs/quickstart/dist"))
    >>> manifest["task"]["name"], manifest["model"]["file"]
    ('text-classification', 'model.onnx')
"""

from __future__ import annotations

import json
from pathlib import Path

from edgebert.runtime.errors import DistError
from edgebert.runtime.session import sha256_file

MANIFEST = "edgebert.json"
FORMAT = "edgebert-manifest"
FORMAT_VERSION = 2
READABLE = (1, 2)
REQUIRED = ("task.name", "task.max_length", "model.file", "tokenizer.file", "files")


def read_manifest(dist: Path, verify: bool = True) -> dict:
    """The manifest of `dist` in the v2 shape; `verify` checks every listed file's sha256."""
    dist = Path(dist)
    raw = load_json(dist / MANIFEST)
    manifest = validate(raw, dist / MANIFEST)
    for name in manifest["files"]:
        if not (dist / name).is_file():
            raise DistError(f"{dist / name} is missing from the dist folder; {MANIFEST} lists it under 'files'")
    if verify:
        for name, entry in manifest["files"].items():
            digest = sha256_file(dist / name)
            if digest != entry.get("sha256"):
                raise DistError(
                    f"{dist / name} does not match its manifest (sha256 {digest[:12]}… != "
                    f"{str(entry.get('sha256'))[:12]}…): the file was changed after packaging; re-run edgebert "
                    "compress or restore the file"
                )
    return manifest


def load_json(path: Path) -> dict:
    if not path.is_file():
        raise DistError(f"{path.parent} has no {path.name}: point at the dist/ folder edgebert compress wrote")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise DistError(f"{path} is not JSON{where}: restore it or re-run edgebert compress") from None
    if not isinstance(raw, dict):
        raise DistError(f"{path} must hold a JSON object, not {type(raw).__name__}")
    return raw


def validate(raw: dict, source: Path | str = MANIFEST) -> dict:
    """Check format, version, required keys and file names; returns the manifest in the v2 shape."""
    if raw.get("format") != FORMAT:
        raise DistError(f"{source} is not an edgebert manifest (its 'format' is not {FORMAT!r})")
    version = raw.get("format_version")
    if version not in READABLE:
        raise DistError(
            f"{source} has format_version {version!r}; this edgebert reads {', '.join(map(str, READABLE))}: "
            "upgrade edgebert (pip install -U edgebert) or re-package with this version"
        )
    manifest = _upgrade_v1(raw, source) if version == 1 else raw
    for key in REQUIRED:
        _get(manifest, key, source)
    if not isinstance(manifest["files"], dict) or not manifest["files"]:
        raise DistError(f"{source}: 'files' must map each shipped file name to its sha256 and bytes")
    for key in ("model", "tokenizer", "mobile_model", "single_file"):
        if key in manifest:
            name = _get(manifest, f"{key}.file", source)
            plain_name(name, f"{key}.file", source)
            if name not in manifest["files"] and "upgraded_from" not in manifest:  # v1 hashed only the models
                raise DistError(f"{source}: {key}.file {name!r} is not listed under 'files' with its sha256")
    for name in manifest["files"]:
        plain_name(name, "files", source)
    return manifest


def plain_name(name: object, key: str, source: Path | str) -> str:
    """A file name inside the dist folder: no folder part, no '..', not absolute."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or ":" in name:
        raise DistError(
            f"{source}: {key} {name!r} is not a plain file name inside the dist folder "
            "(no folders, '..' or absolute paths): restore the manifest or re-run edgebert compress"
        )
    return name


def _get(manifest: dict, dotted: str, source: Path | str) -> object:
    node: object = manifest
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise DistError(f"{source} has no '{dotted}' key: restore the manifest or re-run edgebert compress")
        node = node[part]
    return node


def _upgrade_v1(raw: dict, source: Path | str) -> dict:
    """A v1 manifest (text classification, model hash only) in the v2 shape, in memory."""
    for key in ("labels", "max_length", "model", "tokenizer", "metrics"):
        _get(raw, key, source)
    model = raw["model"]
    plain_name(model.get("file"), "model.file", source)
    plain_name(raw["tokenizer"], "tokenizer", source)
    files = {model["file"]: {"sha256": model.get("sha256"), "bytes": model.get("bytes")}}
    mobile = raw.get("mobile_model")
    if mobile:
        plain_name(mobile.get("file"), "mobile_model.file", source)
        files[mobile["file"]] = {"sha256": mobile.get("sha256"), "bytes": mobile.get("bytes")}
    single = raw.get("single_file")
    if single:
        plain_name(single.get("file"), "single_file.file", source)
        files[single["file"]] = {"sha256": single.get("sha256"), "bytes": single.get("bytes")}
    metrics = raw["metrics"]
    upgraded = {
        **raw,
        "format_version": FORMAT_VERSION,
        "upgraded_from": 1,
        "task": {
            "name": raw.get("task", "text-classification"),
            "labels": raw["labels"],
            "max_length": raw["max_length"],
            "primary_metric": "accuracy",
            "inputs": raw.get("inputs", []),
            "outputs": raw.get("outputs", ["logits"]),
        },
        "model": {"file": model["file"]},
        "tokenizer": {"file": raw["tokenizer"]},
        "files": files,
        "metrics": {
            "split": metrics.get("split"),
            "n": metrics.get("n"),
            "primary": "accuracy",
            "shipped": {k: metrics[k] for k in ("accuracy", "macro_f1") if k in metrics},
            "teacher": {"accuracy": metrics["teacher_accuracy"]} if "teacher_accuracy" in metrics else {},
        },
    }
    return upgraded
