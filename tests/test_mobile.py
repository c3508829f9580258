"""The mobile form (fixed shapes, NNAPI/CoreML operators) of the tiny BERT: same logits as the plain export,
none of the operators that split it into partitions, and ORT's usability check gives NNAPI the whole graph."""

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.graph.mobile import usability
from edgebert.quantization.calibration import calibration_feeds
from edgebert.quantization.schemes import build
from edgebert.recipe import CalibrationConfig, QuantScheme
from edgebert.runtime import TextClassifier
from edgebert.stages.export import MOBILE_ATOL, export_mobile
from edgebert.tasks import get

from .conftest import demo_rows, export_model, rerun

TEXTS = [s for s, _ in demo_rows("dev")][:20]
BLOCKERS = {"Erf", "LayerNormalization", "Where", "Equal", "Expand", "Shape", "ConstantOfShape"}


@pytest.fixture(scope="module")
def mobile(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("mobile")
    export_model(tiny_bert, out, TEXTS[:4])
    info = export_mobile(get("text-classification"), tiny_bert, out / "model.onnx", out, TEXTS, seq=32)
    return out, info


def test_mobile_form_has_fixed_shapes_and_no_blocking_operators(mobile):
    out, info = mobile
    assert info["rewritten"] == {"attention_mask": 2, "layer_norm": 5, "erf": 2}
    graph = onnx.load(str(out / "model.mobile.onnx")).graph
    assert not {n.op_type for n in graph.node} & BLOCKERS
    assert [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input] == [[1, 32]] * 3
    assert 0 < info["max_abs_diff_vs_plain"] < MOBILE_ATOL


def test_runtime_pads_fixed_shape_models_and_matches_the_plain_export(tiny_bert, mobile):
    out, _ = mobile
    labels = ["negative", "positive"]
    fixed = TextClassifier.from_files(out / "model.mobile.onnx", tiny_bert / "tokenizer.json", labels, 32)
    assert (fixed.fixed_batch, fixed.fixed_seq) == (1, 32)
    plain = TextClassifier.from_files(out / "model.onnx", tiny_bert / "tokenizer.json", labels, 32)
    assert np.abs(fixed.logits(TEXTS, batch_size=8) - plain.logits(TEXTS)).max() < MOBILE_ATOL
    assert [p.label for p in fixed.predict(TEXTS)] == [p.label for p in plain.predict(TEXTS)]


def test_nnapi_takes_the_whole_static_qdq_mobile_model(tiny_bert, mobile):
    out, _ = mobile
    fixed = TextClassifier.from_files(out / "model.mobile.onnx", tiny_bert / "tokenizer.json", [], 32)
    train = [s for s, _ in demo_rows("train")]
    feeds = calibration_feeds(fixed.encode, train, CalibrationConfig(samples=32, batch_size=1))
    build(QuantScheme(mode="static"), out / "model.mobile.onnx", out / "qdq.onnx", feeds)
    plain = usability(out / "model.onnx")
    qdq = usability(out / "qdq.onnx")
    assert plain["nnapi"]["as_is"]["verdict"] == "NO"  # the plain export: dynamic shapes, Erf, mask ops
    assert qdq["dynamic_inputs"] == []
    assert qdq["nnapi"]["as_is"] | {"unsupported_ops": []} == qdq["nnapi"]["as_is"]
    assert qdq["nnapi"]["as_is"]["verdict"] == "YES" and qdq["nnapi"]["as_is"]["partitions"] == 1


def _rerun(compressed, tmp_path, *sets: str):
    folder, recipe, _ = compressed
    return rerun(folder / "runs", recipe, tmp_path, *sets)


def test_compress_with_export_mobile_ships_the_mobile_model(compressed, tmp_path):
    gate = "gates.mobile={ep: nnapi, min_share: 0.95, max_partitions: 1}"
    result = _rerun(compressed, tmp_path, "export.mobile=true", "quantize.calibration.samples=32", gate)
    assert "pass  mobile: 100 % of nodes on nnapi" in result.output
    dist = tmp_path / "runs" / "tiny" / "dist"
    manifest = json.loads((dist / "edgebert.json").read_text())
    m = manifest["mobile_model"]
    assert (dist / m["file"]).stat().st_size == manifest["files"][m["file"]]["bytes"]
    assert {"model.mobile.onnx", "model.mobile.ort", "required_operators.config"} <= set(manifest["files"])
    assert m["input_shape"] == [1, 32] and 0 <= m["metrics"]["accuracy"]["value"] <= 1
    assert m["usability"]["nnapi"]["verdict"] == "YES"
    assert (dist / "model.mobile.ort").stat().st_size == m["ort_format"]["bytes"]
    assert m["ort_format"]["max_abs_diff_vs_onnx"] < 1e-4 and (dist / "required_operators.config").is_file()
    assert manifest["mobile"]["nnapi"]["as_is"]["verdict"] == "NO"  # the dynamic-shape model.onnx, for contrast
    assert "Mobile model" in (tmp_path / "runs" / "tiny" / "report" / "report.md").read_text()
    bench = CliRunner().invoke(main, ["bench", str(dist), "--mobile", "--threads", "1", "--iterations", "10", "--json"])
    assert bench.exit_code == 0, bench.output
    assert [(r["batch"], r["seq"]) for r in json.loads(bench.output)] == [(1, 32)]  # its own fixed shape


def test_ort_format_gives_the_same_outputs(tiny_bert, mobile, tmp_path):
    from edgebert.graph.ort_format import to_ort

    out, _ = mobile
    info = to_ort(out / "model.mobile.onnx", tmp_path)
    assert (tmp_path / "model.mobile.ort").stat().st_size == info["bytes"]
    assert "ai.onnx;" in (tmp_path / "required_operators.config").read_text()
    labels = ["negative", "positive"]
    a = TextClassifier.from_files(out / "model.mobile.onnx", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    b = TextClassifier.from_files(tmp_path / "model.mobile.ort", tiny_bert / "tokenizer.json", labels, 32).logits(TEXTS)
    assert np.abs(a - b).max() < 1e-5


def test_single_file_model_takes_raw_text_and_predicts_like_the_dist(compressed, tmp_path):
    from edgebert.graph.single_file import session
    from edgebert.runtime import load

    _rerun(compressed, tmp_path, "export.single_file=true")
    dist = tmp_path / "runs" / "tiny" / "dist"
    manifest = json.loads((dist / "edgebert.json").read_text())
    assert "model.single.onnx" in manifest["files"]
    entry = manifest["single_file"]
    assert entry["verified"]["sentences"] == 50 and entry["verified"]["same_token_ids"]
    long = " ".join(s for s, _ in demo_rows("test")[:10])  # far beyond max_length 32: truncated alike
    single = session(dist / "model.single.onnx")
    for text in [long, demo_rows("test")[0][0].upper()]:  # truncation and lowercasing as the tokenizer does
        logits = single.run(None, {"text": np.array([text])})[0]
        assert np.abs(logits - load(dist).logits([text])).max() < 1e-5
