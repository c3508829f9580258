"""`edgebert web DIST OUT`: a static folder that runs a dist in the browser, offline, with onnxruntime-web (WASM).

    OUT/index.html         a demo page: texts in, results and latency out; `?text=…` (repeatable) runs texts on load
                           and writes the results as JSON into #result (the fields of `edgebert predict --json`)
    OUT/edgebert.js        the ES module apps import: load(), classify(), entities()/tag(), embed(), predict()
    OUT/model.onnx         the web form of the dist's model (edgebert.web.form), what edgebert.js loads
    OUT/tokenizer.json     + tokenizer_config.json: read by @huggingface/tokenizers (transformers.js's tokenizer)
    OUT/edgebert.json      the dist's manifest, its `files` those of OUT, with a `web_model` block: the web form's
                           file, what was changed from the dist's model and why, the onnxruntime-web version
    OUT/ort/, tokenizers/  onnxruntime-web's WASM build and the tokenizer library, copied from node_modules, with
                           their licences: no file is fetched from anywhere but OUT

The JavaScript comes from the npm project in `web/` of an edgebert clone (package.json and package-lock.json pin
it; `npm ci` there fills web/node_modules). OUT is also a dist the Python runtime loads (`load(OUT)` runs the
web form). It does not serve the folder (edgebert.web.serve does, for tests) and does not time it
(benchmarks/web_bench.py does).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgebert.errors import EdgebertError

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parents[1] / "web" / "node_modules"
TASKS = ("text-classification", "token-classification", "sentence-embedding")
# what the page imports, by folder in OUT: (package in node_modules, files from it)
LIBRARIES = {
    "ort": (
        "onnxruntime-web",
        ("dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
    ),
    "tokenizers": ("@huggingface/tokenizers", ("dist/tokenizers.min.mjs",)),
}
PAGE_FILES = ("index.html", "edgebert.js")


class WebError(EdgebertError):
    exit_code = 2


def write_web_folder(dist: Path, out: Path, node_modules: Path | None = None) -> dict:
    """Write the web folder of `dist` into `out` (created; files already there are replaced); returns the
    manifest's `web_model` block."""
    from edgebert.runtime.errors import DistError
    from edgebert.runtime.manifest import read_manifest
    from edgebert.web.form import write_web_form

    dist, out = Path(dist), Path(out)
    try:
        manifest = read_manifest(dist)
    except DistError as e:
        raise WebError(str(e)) from None
    task = manifest["task"]
    if task["name"] not in TASKS or task.get("pairs"):
        what = "a sentence-pair model" if task.get("pairs") else f"a {task['name']} model"
        raise WebError(f"{dist} holds {what}; edgebert web builds {', '.join(TASKS)} models of single texts")
    modules = Path(node_modules) if node_modules else NODE_MODULES
    sources = library_files(modules)
    if out.resolve() == dist.resolve():
        raise WebError(f"the web folder must not be the dist folder itself ({dist}): name another OUT")
    out.mkdir(parents=True, exist_ok=True)

    web = write_web_form(dist / manifest["model"]["file"], out / "model.onnx")
    shipped = ["model.onnx"]
    for name in (manifest["tokenizer"]["file"], "tokenizer_config.json", "config.json"):
        if (dist / name).is_file():
            shutil.copyfile(dist / name, out / name)
            shipped.append(name)
    for name in PAGE_FILES:
        shutil.copyfile(HERE / name, out / name)
    for folder, files in sources.items():
        (out / folder).mkdir(exist_ok=True)
        for source in files:
            shutil.copyfile(source, out / folder / source.name)

    web["file"] = "model.onnx"
    web["onnxruntime_web"] = _version(modules / "onnxruntime-web")
    web["tokenizers_js"] = _version(modules / "@huggingface" / "tokenizers")
    if (out / "tokenizer_config.json").is_file():
        web["tokenizer_config"] = "tokenizer_config.json"
    _write_manifest(out, manifest, shipped, web)
    return web


def library_files(modules: Path) -> dict[str, list[Path]]:
    """The files to copy from `modules` (a node_modules folder), by folder in OUT, with their licences."""
    found: dict[str, list[Path]] = {}
    for folder, (package, files) in LIBRARIES.items():
        found[folder] = [modules / package / f for f in files]
        missing = [p for p in found[folder] if not p.is_file()]
        if missing:
            raise WebError(
                f"{missing[0]} is missing: run `npm ci` in the web/ folder of an edgebert clone, or pass "
                "--node-modules with a folder that has onnxruntime-web and @huggingface/tokenizers"
            )
        found[folder] += [p for p in (modules / package / "LICENSE", modules / package / "package.json") if p.is_file()]
    return found


def _version(package: Path) -> str | None:
    return json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")


def _write_manifest(out: Path, manifest: dict, shipped: list[str], web: dict) -> None:
    from edgebert.runtime.session import sha256_file

    manifest = dict(manifest)
    for key in ("mobile_model", "single_file"):  # those files stay in the dist
        manifest.pop(key, None)
    manifest["model"] = {"file": "model.onnx"}
    manifest["files"] = {
        name: {"sha256": sha256_file(out / name), "bytes": (out / name).stat().st_size} for name in shipped
    }
    manifest["web_model"] = web
    (out / "edgebert.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
