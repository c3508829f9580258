"""The whole compress pipeline on the tiny BERT: artefacts, resume, --from, failures that keep finished work."""

import json
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.recipe import load_recipe
from edgebert.runtime import DistError, load

from .conftest import demo_rows, write_recipe

TASK = __import__("edgebert.tasks", fromlist=["get"]).get("text-classification")


def _data(labels):
    from edgebert.data import Dataset, Split

    empty = Split([], [], "none")
    return Dataset(empty, empty, empty, labels)


DATA = _data(("negative", "positive"))


def test_run_writes_every_stage_dist_and_report(compressed):
    folder, _, result = compressed
    run = folder / "runs" / "tiny"
    for stage in ("teacher", "distill", "export", "quantize", "evaluate", "benchmark", "dist", "report"):
        assert (run / stage / "stage.json").is_file(), stage
    for name in ("model.onnx", "tokenizer.json", "config.json", "edgebert.json"):
        assert (run / "dist" / name).is_file(), name
    manifest = json.loads((run / "dist" / "edgebert.json").read_text())
    assert manifest["format_version"] == 2 and manifest["task"]["labels"] == ["negative", "positive"]
    assert manifest["quantization"]["mode"] == "dynamic" and manifest["fusions"]["offline"]["Attention"] == 1
    assert manifest["fusions"]["at_load_cpu_shipped"]["DynamicQuantizeMatMul"] >= 1
    assert manifest["first_token_only"] == {"model.onnx": 15, "model.fused.onnx": 6}  # the last layer's FFN on [CLS]
    task = manifest["task"]
    assert task["inputs"] == ["input_ids", "attention_mask", "token_type_ids"] and task["outputs"] == ["logits"]
    assert set(manifest["metrics"]["shipped"]["accuracy"]) == {"value", "low", "high", "n"}
    assert set(manifest["files"]) >= {"model.onnx", "tokenizer.json", "config.json", "vocab.txt"}
    report = json.loads((run / "report" / "report.json").read_text())
    assert [r["model"] for r in report["models"]] == ["teacher-pytorch", "teacher", "student", "student-int8"]
    assert (run / "report" / "accuracy_vs_latency.png").stat().st_size > 1000
    assert "| student-int8 |" in (run / "report" / "report.md").read_text()
    assert "pass  size" in result.output


def test_dist_predicts_like_the_evaluated_model(compressed):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    clf = load(dist)
    texts = [t for t, _ in demo_rows("test")]
    preds = clf.predict(texts)
    assert len(preds) == len(texts) and {p.label for p in preds} <= {"negative", "positive"}
    evaluated = json.loads((folder / "runs" / "tiny" / "evaluate" / "stage.json").read_text())["summary"]
    gold = [label for _, label in demo_rows("test")]
    accuracy = sum(p.label == g for p, g in zip(preds, gold, strict=True)) / len(gold)
    assert accuracy == pytest.approx(evaluated["models"]["student-int8"]["accuracy"]["value"])
    out = CliRunner().invoke(main, ["predict", str(dist), "a wonderful film"])
    assert out.exit_code == 0 and out.output.split("\t")[0] in {"negative", "positive"}


def test_rerun_skips_finished_stages_and_from_reruns(compressed):
    folder, recipe, _ = compressed
    run = folder / "runs" / "tiny"
    stamps = {s: (run / s / "stage.json").stat().st_mtime_ns for s in ("teacher", "distill", "export", "benchmark")}
    again = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(folder / "runs")])
    assert again.exit_code == 0 and "kept from the last run" in again.output
    assert all((run / s / "stage.json").stat().st_mtime_ns == t for s, t in stamps.items())
    bench = CliRunner().invoke(
        main, ["compress", str(recipe), "--runs-dir", str(folder / "runs"), "--from", "benchmark"]
    )
    assert bench.exit_code == 0
    assert (run / "teacher" / "stage.json").stat().st_mtime_ns == stamps["teacher"]
    assert (run / "benchmark" / "stage.json").stat().st_mtime_ns != stamps["benchmark"]


def test_a_stage_rerun_up_to_until_outdates_the_later_ones(compressed):
    """--from benchmark --until benchmark rewrites benchmark under the same key: package and report were made
    from the old one, so the next run must redo them rather than keep them (it kept a stale evaluation once)."""
    folder, recipe, _ = compressed
    run, runs = folder / "runs" / "tiny", ["--runs-dir", str(folder / "runs")]
    report = (run / "report" / "stage.json").stat().st_mtime_ns
    only = CliRunner().invoke(main, ["compress", str(recipe), *runs, "--from", "benchmark", "--until", "benchmark"])
    assert only.exit_code == 0 and "package, report: made from the old benchmark output" in only.output
    assert not (run / "report" / "stage.json").exists() and (run / "report" / "report.md").is_file()
    benchmark = (run / "benchmark" / "stage.json").stat().st_mtime_ns
    again = CliRunner().invoke(main, ["compress", str(recipe), *runs])
    assert again.exit_code == 0 and "▶ report" in again.output and "▶ benchmark" not in again.output
    assert (run / "benchmark" / "stage.json").stat().st_mtime_ns == benchmark
    assert (run / "report" / "stage.json").stat().st_mtime_ns != report


def test_unreachable_gate_exits_3_after_writing_everything(compressed):
    folder, recipe, _ = compressed
    result = CliRunner().invoke(
        main, ["compress", str(recipe), "--runs-dir", str(folder / "runs"), "--set", "gates.size.max_mb=0.001"]
    )
    assert result.exit_code == 3
    assert "FAIL  size" in result.output and "gate failed: size" in result.output
    report = json.loads((folder / "runs" / "tiny" / "report" / "report.json").read_text())
    assert report["gates"][0]["passed"] is False  # the report records the failure too


def test_failed_stage_keeps_earlier_stages(compressed):
    folder, recipe, _ = compressed
    run = folder / "runs" / "tiny"
    teacher = (run / "teacher" / "stage.json").stat().st_mtime_ns
    result = CliRunner().invoke(
        main, ["compress", str(recipe), "--runs-dir", str(folder / "runs"), "--set", "export.atol=1e-12"]
    )
    assert result.exit_code == 4 and "does not match PyTorch" in result.output
    assert (run / "teacher" / "stage.json").stat().st_mtime_ns == teacher
    assert (run / "distill" / "stage.json").is_file() and (run / "export" / "stage.json").is_file()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_tampered_dist_is_refused(compressed, tmp_path):
    import shutil

    folder, _, _ = compressed
    dist = tmp_path / "dist"
    shutil.copytree(folder / "runs" / "tiny" / "dist", dist)
    with open(dist / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(DistError, match="does not match its manifest"):
        load(dist)
    out = CliRunner().invoke(main, ["predict", str(dist), "text"])
    assert out.exit_code == 2 and "does not match its manifest" in out.output
    (dist / "tokenizer.json").unlink()
    with pytest.raises(DistError, match="tokenizer.json is missing from the dist folder"):
        load(dist, verify=False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["distill.epocs=1"], "unknown field 'distill.epocs'; did you mean 'distill.epochs'"),
        (["data.train=missing.tsv"], r"data.train: file .*missing.tsv not found"),
        (["data.text=review"], "no column 'review' for data.text; columns are: sentence, label"),
        (["teacher.model=./no-such-model"], "teacher.model './no-such-model': folder .* not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_bert, tmp_path, overrides, message):
    recipe = write_recipe(tmp_path, str(tiny_bert))
    args = ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")]
    result = CliRunner().invoke(main, args + [a for o in overrides for a in ("--set", o)])
    assert result.exit_code == 2, result.output
    assert "\nerror: " in "\n" + result.output and "Traceback" not in result.output
    import re

    assert re.search(message, result.output), result.output


def _raw_encoder(tiny_bert, folder):
    from transformers import BertModel

    BertModel.from_pretrained(tiny_bert).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (folder / name).write_bytes((tiny_bert / name).read_bytes())
    return folder


def test_new_head_is_reproducible_and_leaves_global_rng_alone(tiny_bert, tmp_path):
    import torch

    from edgebert.recipe import TeacherConfig
    from edgebert.stages.teacher import load_teacher

    cfg = TeacherConfig(model=str(_raw_encoder(tiny_bert, tmp_path / "encoder")), finetune={"seed": 3})
    state = torch.random.get_rng_state()
    heads = [load_teacher(TASK, cfg, DATA, Path)[0].classifier.weight for _ in range(2)]
    assert torch.equal(heads[0], heads[1])
    assert torch.equal(torch.random.get_rng_state(), state)


def test_raw_encoder_without_finetune_names_the_fix(tiny_bert, tmp_path):
    encoder = _raw_encoder(tiny_bert, tmp_path / "encoder")
    recipe = write_recipe(tmp_path, str(encoder), teacher={"model": str(encoder)})
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "has no trained text-classification head" in result.output
    assert "teacher.finetune" in result.output


def test_dry_run_prints_resolved_recipe(tiny_bert, tmp_path):
    recipe = write_recipe(tmp_path, str(tiny_bert))
    result = CliRunner().invoke(main, ["compress", str(recipe), "--dry-run", "--set", "distill.epochs=7"])
    assert result.exit_code == 0 and "epochs: 7" in result.output
    assert load_recipe(recipe, ["distill.epochs=7"]).distill.epochs == 7


def test_trained_head_with_other_label_names_is_refused(tiny_bert, tmp_path):
    from edgebert.errors import ModelError
    from edgebert.recipe import TeacherConfig
    from edgebert.stages.teacher import load_teacher

    with pytest.raises(
        ModelError, match=r"trained for labels \['negative', 'positive'\].*data's labels are \['0', '1'\]"
    ):
        load_teacher(TASK, TeacherConfig(model=str(tiny_bert)), _data(("0", "1")), lambda p: tmp_path / p)
    model, _, new_head = load_teacher(TASK, TeacherConfig(model=str(tiny_bert)), DATA, Path)
    assert not new_head and model.config.id2label == {0: "negative", 1: "positive"}


def _copy_run(compressed, tmp_path) -> tuple[Path, Path]:
    import shutil

    folder, recipe, _ = compressed
    shutil.copytree(folder / "runs", tmp_path / "runs")
    return recipe, tmp_path / "runs"


def test_auto_quantization_reruns_from_quantize_and_reports_every_candidate(compressed, tmp_path):
    recipe, runs = _copy_run(compressed, tmp_path)
    teacher = (runs / "tiny" / "teacher" / "stage.json").stat().st_mtime_ns
    sets = ["quantize.mode=auto", "quantize.calibration.samples=64", "gates.accuracy.max_drop=0.5"]
    args = ["compress", str(recipe), "--runs-dir", str(runs)] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "auto kept" in result.output and (runs / "tiny" / "teacher" / "stage.json").stat().st_mtime_ns == teacher
    report = (runs / "tiny" / "report" / "report.md").read_text()
    assert "## Quantization" in report and "| static-qdq-u8-percentile-pc" in report and "(kept)" in report
    manifest = json.loads((runs / "tiny" / "dist" / "edgebert.json").read_text())
    assert manifest["quantization"]["auto"]["winner"] and manifest["mobile"]["nnapi"]["verdict"]
    qdq = [c for c in manifest["quantization"]["auto"]["candidates"] if c["name"].startswith("static-qdq")]
    assert qdq and all(c["mobile"]["coreml_mlprogram"]["fixed_shapes"]["nodes"] > 0 for c in qdq)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(), reason="this machine has CUDA"
)
def test_gpu_mode_without_gpu_and_too_many_calibration_sentences_keep_earlier_stages(compressed, tmp_path):
    recipe, runs = _copy_run(compressed, tmp_path)
    export = (runs / "tiny" / "export" / "stage.json").stat().st_mtime_ns
    for sets, message in [
        (["quantize.mode=fp16"], "fp16 is for GPU targets, and this onnxruntime has no CUDA provider"),
        (["quantize.mode=static", "quantize.calibration.samples=5000"], "lower quantize.calibration.samples"),
    ]:
        args = ["compress", str(recipe), "--runs-dir", str(runs)] + [a for s in sets for a in ("--set", s)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        assert (runs / "tiny" / "export" / "stage.json").stat().st_mtime_ns == export
        assert (runs / "tiny" / "quantize" / "stage.json").is_file()  # the last good quantize stage is kept


NO_CUDA = "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers()


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_providers_fall_back_with_a_message_and_bench_refuses_a_missing_one(compressed):
    from edgebert.runtime import choose_providers

    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    clf = load(dist, providers=["cuda", "xnnpack", "cpu"])
    assert clf.session.get_providers() == ["CPUExecutionProvider"]
    assert clf.provider_message == "using CPUExecutionProvider (cuda, xnnpack: not in this onnxruntime build)"
    with pytest.raises(DistError, match=r"unknown execution provider 'gpu': choose from tensorrt, cuda"):
        choose_providers(["gpu"])
    result = CliRunner().invoke(main, ["bench", str(dist), "--provider", "cuda", "--threads", "1"])
    assert result.exit_code == 2 and "CUDAExecutionProvider is not available in this onnxruntime" in result.output


def test_bench_times_the_dist_through_the_runtime(compressed):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    args = ["bench", str(dist), "--threads", "1", "--seq", "64", "--iterations", "20", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["used"] == "CPUExecutionProvider" and row["seq"] == 64 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["io"] == "host"


def test_io_binding_gives_the_same_logits_and_resident_inputs_stay_valid(compressed):
    # on CPU the binding runs on device "cpu": the same calls a CUDA session makes, checked without a GPU
    from edgebert.runtime.binding import BoundRunner

    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    texts = [s for s, _ in demo_rows("test")][:20]
    plain = load(dist)
    bound = load(dist, io_binding=True)
    assert plain.bound is None and bound.bound is not None
    assert abs(bound.logits(texts, batch_size=7) - plain.logits(texts, batch_size=7)).max() < 1e-6
    feeds = plain.encode(texts[:3])
    runner = BoundRunner(plain.session)
    call = runner.resident(feeds)
    for _ in range(2):  # the bound inputs stay valid across calls
        call()
    assert abs(runner.run(feeds) - plain.session.run(None, feeds)[0]).max() < 1e-6


@pytest.mark.skipif(NO_CUDA, reason="needs onnxruntime-gpu and a CUDA device")
def test_cuda_session_uses_io_binding_and_bench_times_both_ways(compressed):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    texts = [s for s, _ in demo_rows("test")][:20]
    gpu = load(dist, providers=["cuda"], strict=True)
    assert gpu.session.get_providers()[0] == "CUDAExecutionProvider" and gpu.bound is not None
    assert abs(gpu.logits(texts) - load(dist).logits(texts)).max() < 1e-3
    args = ["bench", str(dist), "--provider", "cuda", "--threads", "1", "--seq", "64", "--iterations", "20", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["io"] for r in rows] == ["host", "io_binding"] and {r["used"] for r in rows} == {"CUDAExecutionProvider"}


def test_graph_optimisation_level_is_a_session_option(compressed):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    texts = [s for s, _ in demo_rows("test")][:10]
    full = load(dist).logits(texts)
    assert abs(load(dist, graph_optimization="disabled").logits(texts) - full).max() < 1e-4
    with pytest.raises(DistError, match="graph optimisation 'max': choose from all, extended, basic, disabled"):
        load(dist, graph_optimization="max")


def test_mobile_flag_without_a_mobile_model_names_the_recipe_field(compressed):
    folder, _, _ = compressed
    with pytest.raises(DistError, match="build it with export.mobile: true"):
        load(folder / "runs" / "tiny" / "dist", mobile=True)


def test_dist_loads_with_optimum_and_gives_the_same_labels(compressed):
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    texts = [s for s, _ in demo_rows("test")]
    model = ORTModelForSequenceClassification.from_pretrained(dist)
    enc = AutoTokenizer.from_pretrained(dist)(texts, padding=True, truncation=True, max_length=32, return_tensors="np")
    theirs = [model.config.id2label[int(i)] for i in model(**enc).logits.argmax(-1)]
    assert theirs == [p.label for p in load(dist).predict(texts)]


def test_mobile_gate_fails_on_the_dynamic_shape_model(compressed, tmp_path):
    recipe, runs = _copy_run(compressed, tmp_path)
    args = ["compress", str(recipe), "--runs-dir", str(runs), "--set", "gates.mobile.ep=nnapi"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert "FAIL  mobile" in result.output and "model.onnx:" in result.output and "Erf" in result.output


def test_the_optimum_peers_are_built_scored_timed_and_gated_in_the_run(compressed, tmp_path):
    """benchmark.peers builds Optimum's INT8 export of the run's teacher (and its O2-fused form), scores them on
    test and eval, times each beside the shipped model in pairs, and a latency gate judges the paired ratios."""
    from edgebert import peers

    recipe, runs = _copy_run(compressed, tmp_path)
    distill = (runs / "tiny" / "distill" / "stage.json").stat().st_mtime_ns
    sets = [
        "benchmark.peers=[optimum-int8, optimum-o2-int8]",
        "benchmark.peer_rounds=2",
        "benchmark.peer_sentences=20",
        "gates.latency={threads: 1, vs: optimum-int8, max_ratio: 0.0001}",  # unreachable: 10,000x faster
    ]
    args = ["compress", str(recipe), "--runs-dir", str(runs)] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output  # the gate failed, after everything was written
    run = runs / "tiny"
    assert (run / "distill" / "stage.json").stat().st_mtime_ns == distill  # nothing trained again
    evaluation = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]
    built = evaluation["peers"]["optimum-int8"]
    assert (run / "evaluate" / built["model"]).is_file() and built["preset"] == peers.preset()
    fused = evaluation["peers"]["optimum-o2-int8"]
    assert fused["model"].endswith("model_optimized_quantized.onnx") and "ORTOptimizer O2" in fused["how"]
    qattention = [n for n in onnx.load(str(run / "evaluate" / fused["model"])).graph.node if n.op_type == "QAttention"]
    assert len(qattention) == 2  # one per teacher layer: fused, then quantized
    for peer in ("optimum-int8", "optimum-o2-int8"):  # each is the teacher, quantized
        assert evaluation["agreement_with_teacher"][peer] >= 0.9
    assert set(evaluation["eval_split"]["models"]) == {"teacher", "optimum-int8", "optimum-o2-int8", "student-int8"}
    versus = json.loads((run / "dist" / "edgebert.json").read_text())["vs_peers"]
    assert versus["best"] in ("optimum-int8", "optimum-o2-int8")
    for peer in ("optimum-int8", "optimum-o2-int8"):
        faster = versus["peers"][peer]["x_faster"]
        assert list(faster) == ["seq32", "real_b1", "real_b32"]
        assert all(
            0 < x["low"] <= x["x"] <= x["high"] and set(x["ms"]) == {peer, "student-int8"} for x in faster.values()
        )
    gates = [line.split(":")[0] for line in result.output.splitlines() if line.startswith("FAIL")]
    assert gates == ["FAIL  latency-vs-optimum-int8-seq32", "FAIL  latency-vs-optimum-int8-real_b1"], gates
    report = (run / "report" / "report.md").read_text()
    assert "### Against the peers" in report and "### Test and eval splits" in report
    assert "| optimum-int8 | Optimum text-classification export, ORTQuantizer dynamic INT8" in report
    headline = json.loads((run / "report" / "result.json").read_text())  # the gated thread count's, first peer's
    seq32 = versus["peers"]["optimum-int8"]["x_faster"]["seq32"]["x"]
    assert headline["peer"] == "optimum-int8" and headline["threads"] == 1
    assert headline["x_peer_seq"] == pytest.approx(seq32, rel=0.02) and headline["x_peer_real"] > 0
    assert headline["peer_score"] == evaluation["models"]["optimum-int8"]["accuracy"]["value"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["benchmark.peers=[st-int8]"],
            "benchmark.peers: st-int8 is not a text-classification model; the text-classification peer is optimum-int8",
        ),
        (["benchmark.peers=[onnx-fp32]"], "benchmark.peers: 'onnx-fp32' is not a peer edgebert builds"),
        (
            ["gates.latency={vs: optimum-int8, max_ratio: 0.25, threads: 1}"],
            "gates.latency.vs is 'optimum-int8': add it to benchmark.peers",
        ),
    ],
)
def test_bad_peers_are_one_line(tiny_bert, tmp_path, overrides, message):
    recipe = write_recipe(tmp_path, str(tiny_bert))
    args = ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")] + [
        a for s in overrides for a in ("--set", s)
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output, result.output
