"""Quantization schemes on the tiny BERT: every mode round-trips through ONNX Runtime, node groups stay in FP32
when asked, `auto` keeps the fastest candidate within the bound, and bad input names its fix."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgebert.data import Dataset, Split
from edgebert.errors import RecipeError, StageError
from edgebert.graph.mobile import usability
from edgebert.quantization import groups
from edgebert.quantization.auto import RULES, Trial, choose
from edgebert.quantization.calibration import calibration_feeds
from edgebert.quantization.candidates import candidates
from edgebert.quantization.schemes import build, to_fp16
from edgebert.recipe import BenchmarkConfig, CalibrationConfig, QuantizeConfig, QuantScheme, parse_recipe
from edgebert.runtime import TextClassifier
from edgebert.stages.quantize import QuantizeInputs, run_quantize
from edgebert.tasks import get

from .conftest import demo_rows, export_model

TEXTS = [s for s, _ in demo_rows("dev")]
LABELS = ["negative", "positive"]
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def exported(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_model(tiny_bert, out, TEXTS[:8])
    return out


@pytest.fixture(scope="module")
def unfused(tiny_bert, tmp_path_factory):
    """The export stage's fused graph with the embeddings left unfused (what a 4-bit table needs), and its
    offline fusion counts."""
    from edgebert.recipe import ExportConfig
    from edgebert.stages.export import ExportJob, run_export

    from .conftest import options

    out = tmp_path_factory.mktemp("unfused")
    job = ExportJob(tiny_bert, TEXTS[:8], 32, fuse_embeddings=False)
    summary = run_export(get("text-classification"), job, ExportConfig(atol=1e-4), out, options())
    return out / "model.fused.onnx", summary["fused"]["fusions_offline"]


@pytest.fixture(scope="module")
def calibration(tiny_bert, exported):
    clf = TextClassifier.from_files(exported / "model.onnx", tiny_bert / "tokenizer.json", LABELS, 32)
    clf.tokenizer.enable_padding(pad_id=0, length=32)
    train = [s for s, _ in demo_rows("train")]
    return calibration_feeds(clf.encode, train, CalibrationConfig(samples=64))


def _logits(model: Path, tiny_bert: Path) -> np.ndarray:
    return TextClassifier.from_files(model, tiny_bert / "tokenizer.json", LABELS, 32).logits(TEXTS)


@pytest.mark.parametrize(
    "scheme, marker",
    [
        (QuantScheme(mode="dynamic"), "DynamicQuantizeLinear"),
        (QuantScheme(mode="dynamic", per_channel=True, embeddings=False), "DynamicQuantizeLinear"),
        (QuantScheme(mode="dynamic", per_channel=True, reduce_range=True), "DynamicQuantizeLinear"),
        (QuantScheme(mode="static", calibrator="minmax"), "DequantizeLinear"),
        (QuantScheme(mode="static", per_channel=True, calibrator="percentile"), "DequantizeLinear"),
        (QuantScheme(mode="static", calibrator="entropy"), "DequantizeLinear"),
        (QuantScheme(mode="static", activations="int8", symmetric=True), "DequantizeLinear"),
        (QuantScheme(mode="static", format="qoperator"), "QLinearMatMul"),
        (QuantScheme(mode="none"), "MatMul"),
    ],
)
def test_each_scheme_round_trips(tiny_bert, exported, calibration, tmp_path, scheme, marker):
    target = tmp_path / "model.onnx"
    info = build(scheme, exported / "model.onnx", target, calibration, CalibrationConfig(samples=64))
    assert info["mode"] == scheme.mode
    assert marker in {n.op_type for n in onnx.load(str(target)).graph.node}
    fp32, quantized = _logits(exported / "model.onnx", tiny_bert), _logits(target, tiny_bert)
    assert quantized.shape == fp32.shape and np.abs(quantized - fp32).max() < 0.1
    if scheme.mode != "none":
        assert np.abs(quantized - fp32).max() > 0  # it did change the arithmetic
    gathers = [n for n in onnx.load(str(target)).graph.node if n.op_type == "Gather"]
    if scheme.mode == "dynamic" and not scheme.embeddings:
        assert target.stat().st_size > 0.5 * (exported / "model.onnx").stat().st_size and gathers


def test_reduce_range_keeps_int8_weights_within_64(exported, tmp_path):
    """7-bit weights: every quantized MatMul weight spans [-64, 64], so no pair of products can overflow the int16
    sums of x86 CPUs without VNNI; 8-bit weights reach 127."""

    def widest(scheme: QuantScheme) -> int:
        target = tmp_path / f"{scheme.reduce_range}.onnx"
        build(scheme, exported / "model.onnx", target)
        weights = [
            onnx.numpy_helper.to_array(t)
            for t in onnx.load(str(target)).graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and t.dims
        ]
        assert weights
        return max(int(np.abs(w.astype(np.int32)).max()) for w in weights)

    assert widest(QuantScheme(mode="dynamic", per_channel=True, reduce_range=True)) == 64
    assert widest(QuantScheme(mode="dynamic", per_channel=True)) == 127


def test_int4_embeddings_shrink_the_table_and_keep_the_outputs(tiny_bert, exported, tmp_path):
    int8, int4 = tmp_path / "int8.onnx", tmp_path / "int4.onnx"
    build(QuantScheme(mode="dynamic"), exported / "model.onnx", int8)
    info = build(QuantScheme(mode="dynamic", embeddings="int4"), exported / "model.onnx", int4)
    assert info["embeddings"] == "int4 (blocks of 32)"
    model = onnx.load(str(int4))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("GatherBlockQuantized") == 1 and "MatMulInteger" in ops  # the rest is INT8 as before
    opset = {o.domain: o.version for o in model.opset_import}
    assert opset[""] == {o.domain: o.version for o in onnx.load(str(exported / "model.onnx")).opset_import}[""]

    def table_bytes(path):
        return sum(t.ByteSize() for t in onnx.load(str(path)).graph.initializer if "word_embeddings" in t.name)

    assert table_bytes(int4) < 0.75 * table_bytes(int8)  # 4-bit values and a scale per 32
    fp32 = _logits(exported / "model.onnx", tiny_bert)
    assert np.abs(_logits(int4, tiny_bert) - fp32).max() < 0.1
    assert not list(tmp_path.glob(".*int4-embeddings*"))  # the intermediate file is gone
    q = QuantizeConfig(mode="auto", auto={"candidates": [{"mode": "dynamic"}, {"embeddings": "int4"}]})
    assert q.int4_embeddings and not QuantizeConfig(mode="dynamic").int4_embeddings
    wide = build(QuantScheme(embeddings="int4", embedding_block=16), exported / "model.onnx", tmp_path / "b16.onnx")
    assert wide["embeddings"] == "int4 (blocks of 16)" and table_bytes(tmp_path / "b16.onnx") > table_bytes(int4)


def test_int4_embeddings_need_the_unfused_embeddings(tiny_bert, exported, unfused, tmp_path):
    with pytest.raises(StageError, match=r"EmbedLayerNormalization holds the table\): re-run the export stage"):
        build(QuantScheme(embeddings="int4"), exported / "model.fused.onnx", tmp_path / "m.onnx")
    unfused, ops = unfused
    assert "EmbedLayerNormalization" not in ops and ops["Attention"] == 2
    build(QuantScheme(embeddings="int4"), unfused, tmp_path / "m.onnx")
    kinds = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert {"GatherBlockQuantized", "QAttention"} <= kinds
    fp32 = _logits(exported / "model.onnx", tiny_bert)
    assert np.abs(_logits(tmp_path / "m.onnx", tiny_bert) - fp32).max() < 0.1


def _folded_table(model: Path, tmp_path: Path) -> np.ndarray:
    """The word-embedding table of `model` as ONNX Runtime holds it after loading (constant folding done)."""
    from onnx import numpy_helper

    from edgebert.quantization.mixed_table import word_table

    optimized = tmp_path / f"{model.stem}.loaded.onnx"
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(optimized)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(optimized)).graph
    assert not {"BitShift", "Mod", "Round"} & {n.op_type for n in graph.node}  # the unpacking ran at load
    return numpy_helper.to_array(word_table(graph, model.name))


@pytest.mark.parametrize(
    "mode, source", [("dynamic", "model.fused.onnx"), ("dynamic", "model.onnx"), ("static", "model.onnx")]
)
def test_mixed_embeddings_keep_frequent_rows_exact_and_unpack_at_load(
    tiny_bert, exported, calibration, tmp_path, mode, source
):
    """`embeddings: mixed` stores the rare rows in 4 bits: a smaller file, the INT8 table again once ONNX Runtime
    has loaded it (frequent rows bit for bit, rare ones within half a 4-bit step), and the fused graph kept."""
    from edgebert.quantization.mixed_table import frequent_rows, piece_counts
    from edgebert.stages.export import fusions_at_load

    counts = piece_counts(tiny_bert / "tokenizer.json", [s for s, _ in demo_rows("train")])
    int8, mixed = tmp_path / "int8.onnx", tmp_path / "mixed.onnx"
    build(QuantScheme(mode=mode), exported / source, int8, calibration)
    scheme = QuantScheme(mode=mode, embeddings="mixed", embedding_coverage=0.8, embedding_block=32)
    info = build(scheme, exported / source, mixed, calibration, piece_counts=counts)
    keep = frequent_rows(counts, 0.8)
    assert info["int8_rows"] == len(keep) and info["int4_rows"] == len(counts) - len(keep) > len(keep)

    def table_bytes(path):  # the tiny file is mostly graph; the table is what shrinks
        return sum(t.ByteSize() for t in onnx.load(str(path)).graph.initializer if "word_embeddings" in t.name)

    assert table_bytes(mixed) < 0.85 * table_bytes(int8)  # 20 bytes a 4-bit row of 32, 32 an INT8 one
    assert "BitShift" in {n.op_type for n in onnx.load(str(mixed)).graph.node}
    before, after = _folded_table(int8, tmp_path), _folded_table(mixed, tmp_path)
    assert after.dtype == before.dtype and after.shape == before.shape
    assert np.array_equal(after[keep], before[keep])
    rare = np.setdiff1d(np.arange(len(before)), keep)
    blocks = before[rare].astype(np.int32).reshape(len(rare), -1, 32)
    half_step = (blocks.max(-1) - blocks.min(-1)) / 15 / 2 + 0.51
    error = np.abs(after[rare].astype(np.int32) - before[rare]).reshape(blocks.shape).max(-1)
    assert (error <= half_step).all() and error.max() > 0
    assert fusions_at_load(mixed, tmp_path) == fusions_at_load(int8, tmp_path)
    assert np.abs(_logits(mixed, tiny_bert) - _logits(int8, tiny_bert)).max() < 0.1
    assert not list(tmp_path.glob(".*mixed*"))


def test_mixed_embeddings_name_what_they_need(tiny_bert, exported, tmp_path):
    from edgebert.quantization.mixed_table import frequent_rows, pack_rare_rows

    assert frequent_rows(np.array([5, 0, 3, 2]), 0.8).tolist() == [0, 2]  # 5 + 3 of 10 reach 80%
    assert frequent_rows(np.array([5, 0, 3, 2]), 1.0).tolist() == [0, 2, 3]
    counts = np.ones(64, np.int64)
    with pytest.raises(StageError, match="stayed FP32: take `embeddings` out of quantize keep_fp32"):
        pack_rare_rows(exported / "model.fused.onnx", tmp_path / "m.onnx", counts, 0.5, 16)
    with pytest.raises(StageError, match="embedding_block 64 does not divide the embedding width 32"):
        build(
            QuantScheme(embeddings="mixed", embedding_block=64),
            exported / "model.onnx",
            tmp_path / "m.onnx",
            piece_counts=counts,
        )


@pytest.mark.parametrize("source, norms", [("model.fused.onnx", 4), ("model.onnx", 5)])
def test_decomposed_layer_norms_keep_the_outputs_and_stay_split_at_load(tiny_bert, exported, tmp_path, source, norms):
    """The fused graph's SkipLayerNormalizations become Sum and LayerNormalization (its embedding norm sits
    inside EmbedLayerNormalization and stays); in the unfused graph the Add before each LayerNormalization, which
    ONNX Runtime would fuse with it at load, becomes a Sum. ONNX Runtime fuses neither back when it loads the file."""
    from edgebert.stages.export import fusions_at_load

    as_is, rewritten = tmp_path / "as_is.onnx", tmp_path / "ops.onnx"
    build(QuantScheme(mode="dynamic"), exported / source, as_is)
    info = build(QuantScheme(mode="dynamic", layer_norm="decomposed"), exported / source, rewritten)
    assert info["layer_norms_decomposed"] == norms
    ops = [n.op_type for n in onnx.load(str(rewritten)).graph.node]
    assert "SkipLayerNormalization" not in ops and "ReduceMean" not in ops
    assert ops.count("LayerNormalization") == ops.count("Sum") == norms
    assert "SkipLayerNormalization" not in fusions_at_load(rewritten, tmp_path)
    assert "SkipLayerNormalization" in fusions_at_load(as_is, tmp_path)  # what it would have been
    assert np.abs(_logits(rewritten, tiny_bert) - _logits(as_is, tiny_bert)).max() < 1e-4
    assert not list(tmp_path.glob(".*decomposed*"))


def test_a_4bit_table_keeps_its_embedding_norm_unfused_at_load(tiny_bert, unfused, tmp_path):
    """With the embeddings left unfused for a 4-bit table, the embedding norm is a plain LayerNormalization after
    Adds: it stays a LayerNormalization (not elementwise operators) and ORT does not fuse it at load."""
    from edgebert.stages.export import fusions_at_load

    unfused = unfused[0]
    as_is, out = tmp_path / "as_is.onnx", tmp_path / "m.onnx"
    build(QuantScheme(mode="dynamic", embeddings="int4"), unfused, as_is)
    info = build(QuantScheme(mode="dynamic", embeddings="int4", layer_norm="decomposed"), unfused, out)
    assert info["layer_norms_decomposed"] == 5  # 2 layers x 2, and the embeddings'
    loaded = fusions_at_load(out, tmp_path)
    assert loaded["LayerNormalization"] == 5 and "SkipLayerNormalization" not in loaded
    assert np.abs(_logits(out, tiny_bert) - _logits(as_is, tiny_bert)).max() < 1e-4


def test_a_skip_layer_norm_without_bias_stays_split_at_load(tmp_path):
    """Add(x, skip) and LayerNormalization is what ONNX Runtime fuses at load; Sum(x, skip) it leaves alone."""
    from onnx import TensorProto, helper, numpy_helper

    from edgebert.graph.layer_norm import decompose_layer_norms
    from edgebert.stages.export import fusions_at_load

    rng = np.random.default_rng(0)
    shape = ["batch", "sequence", 16]
    graph = helper.make_graph(
        [helper.make_node("SkipLayerNormalization", ["x", "skip", "g", "b"], ["y"], domain="com.microsoft")],
        "sln",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(rng.random(16, dtype=np.float32), n) for n in ("g", "b")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    source, split = tmp_path / "sln.onnx", tmp_path / "split.onnx"
    onnx.save(model, str(source))
    assert decompose_layer_norms(source, split) == 1
    assert [n.op_type for n in onnx.load(str(split)).graph.node] == ["Sum", "LayerNormalization"]
    assert "SkipLayerNormalization" not in fusions_at_load(split, tmp_path)
    feed = {n: rng.standard_normal((2, 8, 16), dtype=np.float32) for n in ("x", "skip")}
    run = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feed)[0] for p in (source, split)]
    assert np.abs(run[0] - run[1]).max() < 1e-5


def test_decomposed_layer_norms_are_a_cpu_form():
    with pytest.raises(ValueError, match="layer_norm: decomposed is a CPU form"):
        QuantScheme(mode="fp16", layer_norm="decomposed")


def test_fp16_conversion_round_trips(tiny_bert, exported, tmp_path):
    target = tmp_path / "fp16.onnx"
    to_fp16(exported / "model.fused.onnx", target)
    model = onnx.load(str(target))
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.INT64}
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    fp32, fp16 = _logits(exported / "model.onnx", tiny_bert), _logits(target, tiny_bert)
    assert np.abs(fp16 - fp32).max() < 1e-2


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_fp16_mode_without_a_gpu_names_the_fix(exported, tmp_path):
    with pytest.raises(RecipeError, match=r"fp16 is for GPU targets, and this onnxruntime has no CUDA provider"):
        build(QuantScheme(mode="fp16"), exported / "model.fused.onnx", tmp_path / "m.onnx")


@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and a CUDA device")
def test_fp16_runs_on_cuda(tiny_bert, exported, tmp_path):
    target = tmp_path / "fp16.onnx"
    build(QuantScheme(mode="fp16"), exported / "model.fused.onnx", target)
    clf = TextClassifier.from_files(
        target, tiny_bert / "tokenizer.json", LABELS, 32, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert clf.session.get_providers()[0] == "CUDAExecutionProvider"
    assert np.abs(clf.logits(TEXTS) - _logits(exported / "model.onnx", tiny_bert)).max() < 1e-2


def test_keep_fp32_leaves_a_layer_unquantized(exported, calibration, tmp_path):
    scheme = QuantScheme(mode="static", keep_fp32=["layer.1"])
    info = build(scheme, exported / "model.onnx", tmp_path / "m.onnx", calibration)
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    produced_by = {o: n.op_type for n in graph.node for o in n.output}
    layer1 = [n for n in graph.node if n.op_type == "MatMul" and "layer.1/" in n.name]
    layer0 = [n for n in graph.node if n.op_type == "MatMul" and "layer.0/" in n.name and "query" in n.name]
    assert layer1 and all(produced_by.get(n.input[1]) != "DequantizeLinear" for n in layer1)
    assert layer0 and all(produced_by.get(n.input[1]) == "DequantizeLinear" for n in layer0)
    assert info["fp32_nodes"] == 6  # q, k, v, attention output, intermediate, output: the weighted MatMuls


def test_fused_graph_groups_follow_the_layers(exported, tmp_path):
    """The fusion names attention nodes Attention_N: they belong to their layer, so keep_fp32 keeps them."""
    fused = exported / "model.fused.onnx"
    found = groups.node_groups(fused)
    assert list(found) == ["embeddings", "layer.0", "layer.1", "head"]
    assert found["embeddings"] == ["EmbedLayerNormalization_0"]
    assert any(n.startswith("Attention") for n in found["layer.1"]) and len(found["layer.1"]) == 4
    info = build(QuantScheme(mode="dynamic", keep_fp32=["layer.1"]), fused, tmp_path / "m.onnx")
    ops = {n.name: n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert info["fp32_nodes"] == 4
    assert sum(op == "QAttention" for op in ops.values()) == 1  # layer.0's; layer.1's stays Attention
    assert sum(op == "Attention" for op in ops.values()) == 1


def test_unknown_group_lists_the_groups(exported, tmp_path):
    with pytest.raises(RecipeError, match=r"'layer.7' is neither a node group \(embeddings, layer.0, layer.1, head\)"):
        build(QuantScheme(keep_fp32=["layer.7"]), exported / "model.onnx", tmp_path / "m.onnx")


def test_graph_with_nothing_to_quantize_is_a_clear_error(tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "relu.onnx")
    with pytest.raises(StageError, match=r"nothing in relu.onnx could be quantized: .* this graph has Relu"):
        build(QuantScheme(mode="dynamic"), tmp_path / "relu.onnx", tmp_path / "q.onnx")


def test_too_few_calibration_sentences():
    with pytest.raises(RecipeError, match=r"calibration.samples is 256 but the train split has 10 sentences"):
        calibration_feeds(lambda b: {}, ["a"] * 10, CalibrationConfig())
    base = {"name": "x", "data": {"train": "t.tsv"}, "teacher": {"model": "m"}}
    with pytest.raises(RecipeError, match=r"quantize.calibration.samples.*greater than or equal to 32"):
        parse_recipe({**base, "quantize": {"calibration": {"samples": 8}}})


def test_auto_needs_an_accuracy_bound_and_names_misspelt_candidate_keys():
    base = {"name": "x", "data": {"train": "t.tsv"}, "teacher": {"model": "m"}}
    with pytest.raises(RecipeError, match=r"set quantize.auto.max_drop or gates.accuracy.max_drop"):
        parse_recipe({**base, "quantize": {"mode": "auto"}})
    bad = {"mode": "auto", "auto": {"max_drop": 0.01, "candidates": [{"mode": "static", "per_chanel": True}]}}
    with pytest.raises(RecipeError, match=r"did you mean 'quantize.auto.candidates.0.per_channel'"):
        parse_recipe({**base, "quantize": bad})


def test_auto_from_the_fused_export_leaves_static_out():
    """ORT's static quantizer cannot read the fused contrib operators; the dynamic candidates remain."""
    plain = candidates(QuantizeConfig(mode="auto", target="x86"))
    fused = candidates(QuantizeConfig(mode="auto", target="x86", source="fused"))
    assert any(s.mode == "static" for s in plain)
    assert fused == [s for s in plain if s.mode != "static"] and any(s.mode == "dynamic" for s in fused)


def _trial(name: str, accuracy: float, p50: float) -> Trial:
    return Trial(name, QuantScheme(), Path(name), accuracy=accuracy, p50_ms=p50)


def test_auto_picks_a_slower_candidate_when_the_fastest_breaks_the_bound():
    trials = [_trial("fp32", 0.93, 8.0), _trial("static", 0.85, 4.0), _trial("dynamic", 0.92, 5.0)]
    assert choose(trials, bound=0.91) == (trials[2], "fastest within the bounds")
    assert choose(trials, bound=0.80)[0].name == "static"
    assert choose(trials, bound=0.95) == (trials[0], "most accurate")  # none within: the most accurate
    broken = Trial("fp16", QuantScheme(), Path("x"), error="no GPU")
    assert choose([broken, *trials], 0.91)[0].name == "dynamic"
    # the size gate's limit: a candidate over it is not kept, however fast and accurate
    trials[2].mb, trials[0].mb, trials[1].mb = 17.4, 69.0, 17.5
    assert choose(trials, bound=0.91, max_mb=22.6)[0].name == "dynamic"
    assert choose(trials, bound=0.80, max_mb=17.45)[0].name == "dynamic"
    # none fits the size: the fastest within the accuracy bound, flagged (not FP32, the furthest from the limit)
    assert choose(trials, bound=0.80, max_mb=10.0) == (trials[1], "fastest within the accuracy bound")
    assert choose(trials, bound=0.95, max_mb=10.0) == (trials[0], "most accurate")  # nothing accurate enough


def test_with_none_within_the_bound_a_faster_candidate_the_eval_split_cannot_tell_apart_is_kept():
    """TREC's 2-layer student: no candidate reached the bound and FP32 (18 MB) was kept over INT8 one question of
    500 behind. A candidate whose paired interval against the most accurate reaches zero ties with it."""
    fp32, dynamic, static = _trial("fp32", 0.884, 8.0), _trial("dynamic", 0.882, 5.0), _trial("static", 0.80, 4.0)
    fp32.mb, dynamic.mb, static.mb = 18.1, 5.4, 5.3
    dynamic.versus_best = {"value": -0.002, "low": -0.012, "high": 0.006}
    static.versus_best = {"value": -0.084, "low": -0.11, "high": -0.06}  # clearly worse: not a tie
    trials = [fp32, dynamic, static]
    assert choose(trials, bound=0.90) == (dynamic, "fastest within noise of the most accurate")
    dynamic.versus_best = {"value": -0.002, "low": -0.004, "high": -0.001}  # a large split tells them apart
    assert choose(trials, bound=0.90) == (fp32, "most accurate")
    # among ties, those within the size limit first
    dynamic.versus_best, dynamic.mb = {"value": -0.002, "low": -0.012, "high": 0.006}, 7.0
    slower = _trial("dynamic-pc", 0.881, 6.0)
    slower.mb, slower.versus_best = 5.5, {"value": -0.003, "low": -0.013, "high": 0.004}
    assert choose([*trials, slower], bound=0.90, max_mb=6.0)[0] is slower
    assert choose([*trials, slower], bound=0.90)[0] is dynamic
    # without intervals (no compare callback) the rule is the old one
    for t in trials:
        t.versus_best = None
    assert choose(trials, bound=0.90) == (fp32, "most accurate")


def test_the_report_says_which_rule_kept_the_winner():
    from edgebert.report import _auto_verdict, _quantization_section

    auto = {"within_bound": False, "rule": "fastest within the accuracy bound", "winner": "dynamic"}
    assert "kept the fastest within the accuracy bound, dynamic, and the size gate" in _auto_verdict(auto)
    assert "kept the most accurate, fp32" in _auto_verdict(auto | {"rule": "most accurate", "winner": "fp32"})
    assert "the fastest within the bound" in _auto_verdict(auto | {"rule": "fastest within the bounds"})
    assert len({_auto_verdict(auto | {"rule": rule}) for rule in RULES}) == len(RULES)  # a sentence for each rule
    tie = {"name": "dynamic", "versus_best": {"value": -0.002, "low": -0.012, "high": 0.006}}
    said = _auto_verdict(auto | {"rule": RULES[3], "candidates": [tie]})
    assert "kept dynamic, the fastest of those the eval split cannot tell from the most accurate: " in said
    assert said.endswith("accurate: -0.20 points (95%: -1.20 to +0.60).")
    row = {"accuracy": 0.882, "p50_ms": 1.0, "mb": 4.6, "built": {}, "within_bound": False, "error": None}
    table = "\n".join(
        _quantization_section(
            {
                "auto": auto
                | {"rule": RULES[3], "eval_sentences": 500, "teacher_accuracy": 0.924, "bound": 0.914}
                | {"candidates": [row | tie, row | {"name": "fp32", "accuracy": 0.884}], "sensitivity": {}}
            }
        )
    )
    assert "| dynamic (kept) | 88.20 |" in table and "no; vs most accurate -0.20 points (95%: -1.20 to +0.60)" in table
    # a run made before the summary recorded its rule
    rows = [{"name": "fp32", "accuracy": 0.941}, {"name": "dynamic", "accuracy": 0.940}]
    older = {"within_bound": False, "bound": 0.935, "candidates": rows, "winner": "dynamic"}
    assert "kept the fastest within the accuracy bound, dynamic" in _auto_verdict(older)
    assert "kept the most accurate, fp32" in _auto_verdict(older | {"bound": 0.95, "winner": "fp32"})


def _demo_inputs(tiny_bert: Path, exported: Path) -> QuantizeInputs:
    split = lambda name: Split(*map(list, zip(*demo_rows(name), strict=True)), name)  # noqa: E731
    data = Dataset(split("train"), split("dev"), split("test"), tuple(LABELS))
    return QuantizeInputs(
        task=get("text-classification"),
        data=data,
        tokenizer=tiny_bert / "tokenizer.json",
        teacher_onnx=exported / "model.onnx",
        max_length=32,
        max_drop=1.0,  # every candidate is within: the winner must be the fastest
        timing=BenchmarkConfig(seq=32, warmup=2, settle_s=0),
        threads=1,
    )


def test_auto_counts_train_pieces_for_a_mixed_table_candidate(tiny_bert, exported, tmp_path):
    """The stage counts the train split's word pieces with the model's tokenizer; the mixed candidate is named
    and built from them, and loads."""
    from edgebert.quantization.mixed_table import frequent_rows, piece_counts

    mixed = {"embeddings": "mixed", "embedding_coverage": 0.8}
    cfg = QuantizeConfig(mode="auto", source="fused", auto={"candidates": [{}, mixed], "max_drop": 1.0})
    (tmp_path / "out").mkdir()
    summary = run_quantize(exported, tmp_path / "out", cfg, _demo_inputs(tiny_bert, exported))
    names = [c["name"] for c in summary["auto"]["candidates"]]
    assert names == ["dynamic", "dynamic-mixedemb80-32"] and all(
        c["error"] is None for c in summary["auto"]["candidates"]
    )
    counts = piece_counts(tiny_bert / "tokenizer.json", [s for s, _ in demo_rows("train")])
    assert summary["auto"]["candidates"][1]["built"]["int8_rows"] == len(frequent_rows(counts, 0.8))
    _logits(tmp_path / "out" / "model.onnx", tiny_bert)


def test_auto_builds_scores_times_and_keeps_the_fastest_within_the_bound(tiny_bert, exported, tmp_path):
    inputs = _demo_inputs(tiny_bert, exported)
    # target x86 pinned: the candidate list differs on ARM, and the test checks the x86 one
    cfg = QuantizeConfig(mode="auto", target="x86", calibration={"samples": 64}, auto={"max_drop": 1.0})
    (tmp_path / "out").mkdir()
    summary = run_quantize(exported, tmp_path / "out", cfg, inputs)
    auto = summary["auto"]
    names = [c["name"] for c in auto["candidates"]]
    assert names[:6] == ["fp32", "dynamic", "dynamic-pc", "dynamic-pc-7bit", "dynamic-ln-ops", "dynamic-pc-ln-ops"]
    assert len(names) == 10
    assert all(c["accuracy"] is not None and c["p50_ms"] > 0 and c["mb"] > 0 for c in auto["candidates"])
    assert {c["timing"]["vs"] for c in auto["candidates"]} == {"dynamic"}  # each timed against dynamic INT8
    anchor = next(c for c in auto["candidates"] if c["name"] == "dynamic")
    assert anchor["timing"]["ratio"]["ratio"] == 1.0
    assert all(
        c["timing"]["ratio"]["low"] <= c["timing"]["ratio"]["ratio"] <= c["timing"]["ratio"]["high"]
        for c in auto["candidates"]
    )
    # ranked on both workloads (quantize.auto.workload's default): the geometric mean of the two paired ratios
    for c in auto["candidates"]:
        fixed, real = c["timing"]["ratio"]["ratio"], c["timing"]["real_ratio"]["ratio"]
        assert c["rank"] == pytest.approx((fixed * real) ** 0.5, abs=1e-4)
    fastest = min(auto["candidates"], key=lambda c: c["rank"])
    assert auto["winner"] == fastest["name"] and auto["within_bound"]
    assert all("mobile" in c for c in auto["candidates"] if c["name"].startswith("static-qdq"))
    assert set(summary["mobile"]) >= {"nnapi", "coreml_neuralnetwork", "coreml_mlprogram"}
    assert not (tmp_path / "out" / "candidates").exists()
    assert (tmp_path / "out" / "model.onnx").is_file()


def test_mobile_usability_reports_each_ep(exported, calibration, tmp_path):
    build(QuantScheme(mode="static"), exported / "model.onnx", tmp_path / "qdq.onnx", calibration)
    report = usability(tmp_path / "qdq.onnx")
    assert report["dynamic_inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    nnapi = report["nnapi"]
    assert nnapi["as_is"]["nodes"] > 0 and 0 < nnapi["fixed_shapes"]["supported_share"] <= 1
    assert nnapi["fixed_shapes"]["supported_nodes"] >= nnapi["as_is"]["supported_nodes"]
    assert nnapi["verdict"] in ("YES", "MAYBE", "NO")


def test_auto_keeps_the_sensitive_group_in_fp32_when_that_meets_the_bound(tiny_bert, exported, tmp_path):
    """layer.1 is made the group that costs accuracy: a model with any quantized layer.1 weight gets every
    label wrong. auto must find it, keep it in FP32, and pick that rescue over the slower FP32."""
    from edgebert.quantization.auto import AutoContext, run_auto

    rows = demo_rows("dev")
    labels = np.array([LABELS.index(y) for _, y in rows])

    plain = onnx.load(str(exported / "model.onnx")).graph
    layer1 = {n.input[1] for n in plain.node if n.op_type == "MatMul" and "layer.1/" in n.name}

    def predict(model: Path) -> np.ndarray:
        pred = TextClassifier.from_files(model, tiny_bert / "tokenizer.json", LABELS, 32).logits(TEXTS).argmax(1)
        names = {i.name for i in onnx.load(str(model)).graph.initializer}
        if any(f"{w}_quantized" in names for w in layer1):  # ORT renames a weight it quantizes
            return 1 - labels  # every label wrong
        return pred

    def time_all(models: dict[str, Path]) -> dict[str, dict]:
        return {n: {"p50_ms": 2.0 if n == "fp32" else 1.0 - 0.1 * n.count("fp32("), "vs": "fp32"} for n in models}

    fp32_accuracy = float(np.mean(predict(exported / "model.onnx") == labels))
    # INT8 elsewhere may flip a few of the random tiny model's 50 labels: allow 5
    cfg = QuantizeConfig(mode="auto", auto={"max_drop": 0.1, "candidates": [{"mode": "none"}, {"mode": "dynamic"}]})
    task = get("text-classification")
    score = lambda pred: float(np.mean(pred == labels))  # noqa: E731
    agree = lambda a, b: float(np.mean(a == b))  # noqa: E731
    ctx = AutoContext(predict, score, agree, time_all, None, fp32_accuracy - 0.1)
    assert task.PRIMARY_METRIC == "accuracy"
    result = run_auto(cfg, exported / "model.onnx", tmp_path, ctx)
    assert result["sensitivity"]["dynamic"][0]["group"] == "layer.1"  # the costly group ranks first
    by_name = {c["name"]: c for c in result["candidates"]}
    assert not by_name["dynamic"]["within_bound"]
    rescue = by_name["dynamic+fp32(layer.1)"]
    assert rescue["within_bound"] and rescue["rescue_of"] == "dynamic" and rescue["built"]["fp32_nodes"] == 6
    assert result["winner"].startswith("dynamic+fp32(layer.1") and result["within_bound"]
    assert all(c["versus_best"] is None for c in result["candidates"])  # only compared when none is within


def test_auto_with_no_candidate_within_the_bound_compares_each_with_the_most_accurate(tiny_bert, exported, tmp_path):
    """An unreachable bound: every candidate carries its paired difference to the most accurate one, and the
    one whose every label is wrong is told apart from it."""
    from edgebert.evaluate import accuracy_difference
    from edgebert.quantization.auto import AutoContext, run_auto

    labels = np.array([LABELS.index(y) for _, y in demo_rows("dev")])

    def predict(model: Path) -> np.ndarray:
        pred = TextClassifier.from_files(model, tiny_bert / "tokenizer.json", LABELS, 32).logits(TEXTS).argmax(1)
        return 1 - labels if "dynamic" in model.parent.name else pred  # dynamic INT8: every label wrong

    def time_all(models: dict[str, Path]) -> dict[str, dict]:
        return {n: {"p50_ms": 2.0 if n == "fp32" else 1.0, "vs": "fp32"} for n in models}

    score = lambda pred: float(np.mean(pred == labels))  # noqa: E731
    compare = lambda a, b: accuracy_difference(labels, a, b)  # noqa: E731
    ctx = AutoContext(predict, score, lambda a, b: 1.0, time_all, None, 2.0, compare=compare)
    cfg = QuantizeConfig(mode="auto", auto={"candidates": [{"mode": "none"}, {"mode": "dynamic"}], "sensitivity": 0})
    result = run_auto(cfg, exported / "model.onnx", tmp_path, ctx)
    by_name = {c["name"]: c for c in result["candidates"]}
    assert by_name["fp32"]["versus_best"] is None and by_name["dynamic"]["versus_best"]["high"] < 0
    assert by_name["dynamic"]["versus_best"]["value"] == pytest.approx(-by_name["fp32"]["accuracy"])
    assert (result["winner"], result["rule"]) == ("fp32", "most accurate")


def test_a_packed_word_embedding_table_is_never_kept_fp32_as_a_rescue():
    """`mixed` and `int4` need the table quantized: auto's sensitivity rescue must not try it in FP32 (it built a
    refused candidate per table scheme before)."""
    from edgebert.quantization.auto import keepable
    from edgebert.recipe import QuantScheme

    assert keepable(QuantScheme(), "embeddings") and keepable(QuantScheme(embeddings="mixed"), "layer.0")
    assert not keepable(QuantScheme(embeddings="mixed"), "embeddings")
    assert not keepable(QuantScheme(embeddings="int4"), "embeddings")
