"""The browser as a target: `edgebert web` folders opened in a real headless Chromium (Debian's, driven by
playwright-core from web/node_modules), served on 127.0.0.1 with cross-origin isolation; the page's results
against the Python runtime's for the quickstart's classifier and the demo NER and embedding dists; a screenshot of the demo page.

Skips, with one line, only where node, Chromium or `npm ci` in web/ are missing (.ci/run provides all three)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgebert.cli import main

from .conftest import ACTIONS, DEMO_NER, ROOT, SUBJECTS, demo_rows

OPEN_PAGE = ROOT / "web" / "open-page.mjs"


@pytest.fixture(scope="module")
def browser() -> list[str]:
    """The command that opens a page (node web/open-page.mjs), or a skip naming what is missing."""
    node = shutil.which("node")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if node is None or chromium is None:
        pytest.skip(f"no {'node' if node is None else 'Chromium'} on PATH: apt-get install nodejs npm chromium")
    if not (ROOT / "web" / "node_modules" / "playwright-core").is_dir():
        pytest.skip("web/node_modules is missing: run `npm ci` in web/")
    return [node, str(OPEN_PAGE)]


def web_folder(dist: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["web", str(dist), str(out)])
    assert result.exit_code == 0, result.output
    return out


def open_page(browser: list[str], folder: Path, texts: list[str], screenshot: Path | None = None) -> list[dict]:
    """The demo page of `folder` with `texts` as ?text= parameters: the JSON it writes into #result."""
    from edgebert.web.serve import serve

    query = urllib.parse.urlencode([("text", t) for t in texts])
    with serve(folder) as url:
        args = [*browser, f"{url}index.html?{query}", str(screenshot or "")]
        done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    page = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    assert page.get("state") == "done", (page, done.stderr[-2000:])
    assert "cross-origin isolated" in page["status"]  # so onnxruntime-web could use threads
    return json.loads(page["result"])


def test_classifier_page_gives_the_python_runtimes_labels_and_scores(quickstart, browser, tmp_path):
    from edgebert.runtime import load

    runs, _ = quickstart
    dist = runs / "quickstart" / "dist"  # the README's main command's MiniLM classifier
    out = web_folder(dist, tmp_path / "web")
    texts = [text for text, _ in demo_rows("test")]
    texts.append(" ".join(texts[:6]))  # longer than max_length: cut as Python cuts it
    screenshot = tmp_path / "demo-page.png"
    rows = open_page(browser, out, texts, screenshot)
    print(f"demo page screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000

    expected = load(dist).predict(texts)
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == [p.label for p in expected]
    # INT8 scores differ between x86 and WASM on every host: activations are quantized at each call, so an FP32
    # difference of 1e-6 that crosses a rounding boundary moves a value a whole step, and x86 without VNNI also
    # saturates u8 x s8 sums in 16 bits (VPMADDUBSW). Measured: up to 0.002 on an AMD EPYC with AVX-512 VNNI, 0.01
    # on one with AVX2 only. The FP32 form below pins the post-processing itself to 1e-3.
    assert max(abs(r["score"] - p.score) for r, p in zip(rows, expected, strict=True)) < 0.02
    fp32 = fp32_dist(runs / "quickstart", tmp_path / "fp32")
    rows = open_page(browser, web_folder(fp32, tmp_path / "web-fp32"), texts)
    expected = load(fp32).predict(texts)
    assert [r["label"] for r in rows] == [p.label for p in expected]
    assert max(abs(r["score"] - p.score) for r, p in zip(rows, expected, strict=True)) < 1e-3

    manifest = json.loads((out / "edgebert.json").read_text())
    assert manifest["web_model"]["file"] == "model.onnx" and manifest["web_model"]["onnxruntime_web"]
    assert load(out).predict(texts[:3]) == load(dist).predict(texts[:3])  # the web folder is a dist too
    served = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "edgebert.js", "ort/ort-wasm-simd-threaded.wasm", "tokenizers/tokenizers.min.mjs"} <= served


def _ner_texts() -> list[str]:
    sentences, words = [], []
    for line in (DEMO_NER / "test.conll").read_text().splitlines() + [""]:
        if line.strip():
            words.append(line.split()[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


def fp32_dist(run: Path, out: Path) -> Path:
    """A copy of the run's dist with the student's FP32 export as its model (hashes updated)."""
    from edgebert.runtime.session import sha256_file

    shutil.copytree(run / "dist", out)
    shutil.copyfile(run / "export" / "student" / "model.onnx", out / "model.onnx")
    manifest = json.loads((out / "edgebert.json").read_text())
    manifest["files"]["model.onnx"] = {"sha256": sha256_file(out / "model.onnx"), "bytes": 0}
    (out / "edgebert.json").write_text(json.dumps(manifest))
    return out


def test_ner_page_gives_the_python_runtimes_entities_and_spans(ner_run, browser, tmp_path):
    from edgebert.runtime import load

    run, _ = ner_run
    texts = _ner_texts()[:40]
    texts.append(" ".join(texts[:8]))  # longer than max_length (32 tokens): read in overlapping windows
    texts.append("Ångström met Zoë Müller in São Paulo, didn't he?")  # accents and an apostrophe in the spans
    # FP32: the browser's arithmetic is the CPU's to about 1e-6, so this pins the post-processing itself
    # INT8: ONNX Runtime's x86 kernels without VNNI multiply u8 by s8 with 16-bit saturation (VPMADDUBSW); WASM
    # sums exactly, so this dynamically quantized tiny tagger's word scores move by up to 0.09 between the two
    # (measured on a 2-core AMD EPYC with AVX2, no VNNI); the entities and spans stay the same
    for dist, tolerance in ((fp32_dist(run, tmp_path / "fp32"), 1e-3), (run / "dist", 0.15)):
        rows = open_page(browser, web_folder(dist, tmp_path / f"web-{dist.name}"), texts)
        expected = load(dist).predict(texts)
        assert sum(len(e) for e in expected) > 20
        for row, want in zip(rows, expected, strict=True):
            got = [(e["label"], e["start"], e["end"], e["text"]) for e in row["entities"]]
            assert got == [(e.label, e.start, e.end, e.text) for e in want], (dist.name, row["text"])
            worst = max((abs(e["score"] - w.score) for e, w in zip(row["entities"], want, strict=True)), default=0)
            assert worst < tolerance, (dist.name, row["text"], worst)


def test_embedding_page_gives_the_python_runtimes_vectors(embedding_run, browser, tmp_path):
    from edgebert.runtime import load

    run, _ = embedding_run
    out = web_folder(run / "dist", tmp_path / "web")
    texts = [f"{s} {a}" for s in SUBJECTS[:4] for a in ACTIONS] + [text for text, _ in demo_rows("test")[:10]]
    rows = open_page(browser, out, texts)

    expected = load(run / "dist").embed(texts)
    got = np.array([r["vector"] for r in rows], dtype=np.float32)
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.999, cosine.min()


def test_web_without_node_modules_names_npm_ci(compressed, tmp_path):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    result = CliRunner().invoke(main, ["web", str(dist), str(tmp_path / "web"), "--node-modules", str(tmp_path)])
    assert result.exit_code == 2
    assert "is missing: run `npm ci` in the web/ folder of an edgebert clone" in result.output
    assert len(result.output.strip().splitlines()) == 1
