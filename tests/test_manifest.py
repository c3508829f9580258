"""Manifest v2 and the dist folder's integrity: every shipped file hashed and checked at load, only plain file
names inside the folder, unknown versions and missing keys refused with one line; v1 dists still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.runtime import DistError, load, read_manifest
from edgebert.runtime.session import sha256_file

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def dist(compressed, tmp_path) -> Path:
    folder, _, _ = compressed
    copy = tmp_path / "dist"
    shutil.copytree(folder / "runs" / "tiny" / "dist", copy)
    return copy


def _edit(dist: Path, change) -> None:
    manifest = json.loads((dist / "edgebert.json").read_text())
    change(manifest)
    (dist / "edgebert.json").write_text(json.dumps(manifest))


def _refused(dist: Path, message: str) -> None:
    with pytest.raises(DistError, match=message):
        load(dist)
    out = CliRunner().invoke(main, ["predict", str(dist), "some text"])
    assert out.exit_code == 2, out.output
    assert out.output.startswith("error: ") and len(out.output.strip().splitlines()) == 1, out.output
    assert "Traceback" not in out.output


def test_v2_manifest_lists_every_shipped_file_with_its_hash(dist):
    manifest = read_manifest(dist)
    assert manifest["format_version"] == 2 and manifest["task"]["name"] == "text-classification"
    shipped = {p.name for p in dist.iterdir() if p.name not in ("edgebert.json", "stage.json")}
    assert set(manifest["files"]) == shipped
    assert all(e["sha256"] == sha256_file(dist / n) for n, e in manifest["files"].items())
    assert set(manifest["metrics"]["shipped"]) == {"accuracy", "macro_f1", "f1"}  # two labels: the positive one's F1


def test_tampered_tokenizer_is_refused(dist):
    tokenizer = json.loads((dist / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = list(vocab)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # two ids swapped: predictions change, the file still parses
    (dist / "tokenizer.json").write_text(json.dumps(tokenizer))
    _refused(dist, r"tokenizer.json does not match its manifest \(sha256")


@pytest.mark.parametrize("where", ["../../model.onnx", "/etc/hostname", "sub/model.onnx", ".."])
def test_paths_outside_the_dist_are_refused(dist, where):
    _edit(dist, lambda m: m["model"].update(file=where))
    _refused(dist, rf"model.file '{where}' is not a plain file name inside the dist folder")


def test_a_files_entry_outside_the_dist_is_refused(dist):
    _edit(dist, lambda m: m["files"].update({"../secret": {"sha256": "0", "bytes": 1}}))
    _refused(dist, r"files '../secret' is not a plain file name inside the dist folder")


def test_unknown_version_missing_key_and_broken_json_are_one_line_each(dist):
    _edit(dist, lambda m: m.update(format_version=7))
    _refused(dist, r"format_version 7; this edgebert reads 1, 2: upgrade edgebert")
    _edit(dist, lambda m: m.update(format_version=2) or m["task"].pop("max_length"))
    _refused(dist, r"has no 'task.max_length' key")
    (dist / "edgebert.json").write_text('{"format": "edgebert-manifest", ')
    _refused(dist, r"edgebert.json is not JSON \(line 1, column")
    (dist / "edgebert.json").unlink()
    _refused(dist, r"has no edgebert.json: point at the dist/ folder")


def test_unknown_task_is_refused(dist):
    _edit(dist, lambda m: m["task"].update(name="speech-recognition"))
    _refused(dist, r"names task 'speech-recognition', which this edgebert cannot run")


def test_a_v1_dist_still_loads_predicts_and_checks(dist, tmp_path):
    """A dist written before manifest v2 (the fixture is a real v1 manifest, trimmed): predict and check work."""
    v1 = json.loads((FIXTURES / "edgebert-v1.json").read_text())
    v1["model"]["sha256"] = sha256_file(dist / "model.onnx")
    v1["model"]["bytes"] = (dist / "model.onnx").stat().st_size
    v1["max_length"] = 32
    (dist / "edgebert.json").write_text(json.dumps(v1))
    manifest = read_manifest(dist)
    assert manifest["upgraded_from"] == 1 and manifest["task"]["labels"] == ["negative", "positive"]
    assert manifest["metrics"]["shipped"]["accuracy"]["value"] == 0.94
    out = CliRunner().invoke(main, ["predict", str(dist), "a wonderful film"])
    assert out.exit_code == 0 and out.output.split("\t")[0] in {"negative", "positive"}, out.output
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets: {size: 100 MB, accuracy: 90%}\n")
    out = CliRunner().invoke(main, ["check", str(dist), "--budgets", str(budgets), "--json"])
    assert out.exit_code == 0, out.output
    assert {r["budget"]: r["status"] for r in json.loads(out.output)["results"]} == {"size": "pass", "accuracy": "pass"}
    with open(dist / "model.onnx", "ab") as f:  # v1 hashed the model: still checked
        f.write(b"\0")
    _refused(dist, "model.onnx does not match its manifest")
