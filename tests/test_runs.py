import pytest

from edgebert.runs import Run, stage_key


def test_stage_is_atomic_and_keyed(tmp_path):
    run = Run(tmp_path / "r")
    with run.stage("teacher", "k1") as (out, summary):
        (out / "w.txt").write_text("v1")
        summary["note"] = "first"
    assert run.done("teacher", "k1") and not run.done("teacher", "k2")
    assert run.summary("teacher")["note"] == "first" and "seconds" in run.summary("teacher")

    with pytest.raises(RuntimeError), run.stage("teacher", "k2") as (out, _):
        (out / "w.txt").write_text("half-written")
        raise RuntimeError("stage crashed")
    # the failed re-run left the finished stage untouched and no temp folder behind
    assert (run.dir("teacher") / "w.txt").read_text() == "v1" and run.done("teacher", "k1")
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["teacher"]


def test_replacing_a_stage_and_package_folder_name(tmp_path):
    run = Run(tmp_path)
    for version in ("a", "b"):
        with run.stage("package", version) as (out, _):
            (out / "model.onnx").write_text(version)
    assert (tmp_path / "dist" / "model.onnx").read_text() == "b"
    assert stage_key("x", "1") != stage_key("x", "2")
