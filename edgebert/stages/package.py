"""Package stage: the deployable folder an app embeds, and its manifest.

    dist/model.onnx        the shipped model (INT8 unless quantize.mode is none)
    dist/model.single.onnx with export.single_file: the tokenizer in the graph (onnxruntime-extensions)
    dist/model.mobile.onnx with export.mobile: fixed-shape static INT8 for NNAPI/CoreML, + model.mobile.ort
                           (ORT format) and required_operators.config (for a reduced ORT build)
    dist/tokenizer.json    + tokenizer_config.json, special_tokens_map.json, vocab
    dist/config.json       the model config with id2label (Optimum's ORTModelFor… loads the folder as is)
    dist/README.md         a model card in the Hugging Face format (edgebert.model_card), so the folder can be
                           published to a model hub as it is
    dist/edgebert.json     manifest v2: task block, inputs/outputs, metrics by name, files with sha256, fusions,
                           latency and host, library versions, the recipe

The manifest format is versioned (`format_version`, read and validated by edgebert.runtime.manifest); readers
refuse versions they do not know. It measures nothing; it records what the earlier stages measured.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgebert import environment, model_card
from edgebert.recipe import Recipe, recipe_to_yaml
from edgebert.runs import read_json, sha256_file, write_json
from edgebert.runtime.manifest import FORMAT, FORMAT_VERSION
from edgebert.timing import machine

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
MOBILE_FILES = ("model.mobile.onnx", "model.mobile.ort", "required_operators.config")
VERSIONED = ("edgebert", "onnxruntime", "onnx", "torch", "transformers", "optimum-onnx", "tokenizers", "numpy")


@dataclass(frozen=True)
class Shipment:
    """What goes into dist/: the model, the Hugging Face folder whose tokenizer and config ship with it, and the
    mobile model (beside its .ort file and required_operators.config) when there is one."""

    model: Path
    source: Path
    mobile: Path | None = None


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def recipe_sha256(recipe: Recipe) -> str:
    return hashlib.sha256(recipe_to_yaml(recipe).encode()).hexdigest()


def write_dist(out: Path, shipment: Shipment, manifest: dict) -> dict:
    """Copy the files into `out` and write edgebert.json with the sha256 of each; returns the manifest written."""
    shutil.copyfile(shipment.model, out / "model.onnx")
    if shipment.mobile:
        shutil.copyfile(shipment.mobile, out / "model.mobile.onnx")
        for name in MOBILE_FILES[1:]:
            shutil.copyfile(shipment.mobile.parent / name, out / name)
    for name in TOKENIZER_FILES:
        if (shipment.source / name).is_file():
            shutil.copyfile(shipment.source / name, out / name)
    shutil.copyfile(shipment.source / "config.json", out / "config.json")
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **manifest,
        "model": {"file": "model.onnx"},
        "tokenizer": {"file": "tokenizer.json"},
        "files": files_table(out),
        "versions": library_versions(),
    }
    return _write_manifest(out, full)


def _write_manifest(out: Path, manifest: dict) -> dict:
    """README.md (the model card, from the manifest) and edgebert.json, whose files table hashes the card too."""
    (out / model_card.CARD).write_text(model_card.render(manifest))
    manifest["files"] = files_table(out)
    write_json(out / "edgebert.json", manifest)
    return manifest


def files_table(out: Path) -> dict[str, dict]:
    """sha256 and bytes of every file in the folder but the manifest and the stage stamp."""
    skip = {"edgebert.json", "stage.json"}
    return {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(out.iterdir())
        if p.is_file() and p.name not in skip and not p.name.startswith(".")
    }


def build_manifest(ctx) -> dict:
    """The manifest's content from the run's recorded stages (`ctx`: edgebert.pipeline.context.Context)."""
    from edgebert import peers
    from edgebert.runtime import make_session

    recipe, task, shipped = ctx.recipe, ctx.task, ctx.shipped
    records = ctx.records
    evaluation, timings, quant = records.evaluate, records.benchmark, records.quantize
    exported = records.export.model(ctx.student)
    session = make_session(ctx.onnx_models()[shipped], threads=1)
    training = _training(ctx)
    return {
        "name": recipe.name,
        "task": {
            "name": task.NAME,
            **task.manifest_block(ctx.data, ctx.shipped_source()),
            "max_length": recipe.data.max_length,
            "primary_metric": task.PRIMARY_METRIC,
            "inputs": [i.name for i in session.get_inputs()],
            "outputs": [o.name for o in session.get_outputs()],
        },
        "opset": recipe.export.opset,
        "quantization": quant.shipped_scheme,
        **({"vocab": exported.vocab} if exported.vocab else {}),
        "mobile": quant.mobile,
        **({"mobile_model": _mobile_manifest(quant.mobile_model, evaluation.models, ctx.mobile)} if ctx.mobile else {}),
        "fusions": {
            "offline": exported.fusions_offline,
            "at_load_cpu_fp32": exported.fusions_at_load,
            "at_load_cpu_shipped": quant.fusions_at_load,
        },
        # nodes of the last layer that compute [CLS] alone, per export graph (edgebert.graph.first_token)
        "first_token_only": exported.first_token_only,
        "metrics": {
            "split": evaluation.split,
            "n": evaluation.n,
            "primary": task.PRIMARY_METRIC,
            "shipped": _recorded(evaluation.models[shipped], task),
            "teacher": _recorded(evaluation.models["teacher"], task),
        },
        "latency": {
            "threads": ctx.threads,
            "batch": timings.batch,
            "seq": timings.seq,
            **timings.fixed[str(ctx.threads)][shipped],
            **_host(timings.host or environment.describe(torch=False)),
        },
        **({"training": training} if training else {}),
        **({"vs_peers": versus} if (versus := peers.compare(evaluation.raw, timings.raw, ctx.threads)) else {}),
        "recipe_sha256": recipe_sha256(recipe),
        "recipe": recipe.model_dump(mode="json", exclude={"base_dir"}),
    }


def _host(host: dict) -> dict:
    """The benchmark's host in one line, and the onnxruntime that timed it (this one for runs recorded before
    the benchmark stage kept it)."""
    ort = host.get("onnxruntime") or environment.describe_onnxruntime() or {}
    return {"machine": machine.summary(host), "onnxruntime": {k: ort.get(k) for k in ("version", "providers")}}


def _training(ctx) -> dict:
    """Where each training stage ran (device, precision, processes, effective batch), from its record."""
    found = {}
    for stage in ("teacher", "distill", "prune"):
        where = getattr(ctx.records, stage).training if ctx.run.finished(stage) else None
        if where:
            found[stage] = where
    return found


def _recorded(scores: dict, task) -> dict:
    """The task's metrics as evaluate recorded them (a metric only some data has, such as the positive label's F1
    of a two-label classifier, is kept when measured)."""
    names = dict.fromkeys((*task.METRICS, *(name for name, _ in task.report_columns())))
    return {m: scores[m] for m in names if m in scores}


def _mobile_manifest(built: dict, scores: dict[str, dict], name: str) -> dict:
    """The fixed-shape, NNAPI/CoreML-ready INT8 model in dist/: its input shape, metrics and usability."""
    return {
        "file": "model.mobile.onnx",
        "ort_file": "model.mobile.ort",
        "input_shape": [built["batch"], built["seq"]],
        "metrics": scores[name],
        "quantization": {k: v for k, v in built.items() if k not in ("usability", "batch", "seq", "ort")},
        "ort_format": built["ort"],
        "usability": built["usability"],
    }


def add_single_file(out: Path, texts: list[str], max_length: int) -> dict:
    """dist/model.single.onnx (tokenizer in the graph), verified on `texts`, recorded in the manifest."""
    from edgebert.graph.single_file import build, verify

    build(out / "model.onnx", out, out / "model.single.onnx", max_length)
    check = verify(out / "model.single.onnx", out / "model.onnx", out / "tokenizer.json", texts, max_length)
    manifest = read_json(out / "edgebert.json")
    manifest["single_file"] = {
        "file": "model.single.onnx",
        "input": "text: string [1], one sentence per call",
        "needs": "onnxruntime-extensions (register_custom_ops_library(get_library_path()))",
        "verified": check,
    }
    _write_manifest(out, manifest)
    return manifest["single_file"]
