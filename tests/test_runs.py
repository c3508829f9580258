from pathlib import Path

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


# Stage keys of recipes/quickstart.yaml as written by edgebert before the task seam (commit f547e68): a change
# of these keys makes every user's finished run redo its stages, so it must be deliberate.
QUICKSTART_KEYS = {
    "teacher": "db22a2a339656a7b9dc595cf7788ae15b12b7bc32d788d12486905e0f0ae3551",
    "distill": "9dbb9be5ec1aa639131c126c961709b2976d0c82750cc58b1f57ea77b6938a66",
    "export": "28c02f4c8a331ccc1fbb4f50c569aa38f44a66d575dd128cbf560c6cb758b21d",
    "quantize": "2d4166f3e75a3afbb10646e37ec26ef718c8bceb17b54e450baf333bea680acd",
    "evaluate": "b8d364e95166ae31b16f863619a4241c2e9cd61ea7199377be8c426b688e15f2",
    "benchmark": "b5da88e11580a9510cac2f01a35ea7f5f995f64de70daed91ee3295f21c978b7",
}


def test_quickstart_stage_keys_are_those_of_earlier_runs(tmp_path):
    from edgebert.pipeline import context, plan
    from edgebert.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml")
    keys = plan(context(recipe, tmp_path))
    assert {s: keys[s] for s in QUICKSTART_KEYS} == QUICKSTART_KEYS
    assert keys["prune"] == keys["distill"]  # a stage the recipe leaves out passes its input's key on


def test_a_library_error_on_an_almost_full_disk_is_reported_as_a_full_disk(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from edgebert.errors import DiskFull, StageError

    run = Run(tmp_path / "r")
    with pytest.raises(StageError, match="export failed"):  # plenty of space: the library's own error
        with run.stage("export", "k") as (out, _):
            raise StageError("export failed: INVALID_PROTOBUF")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    with pytest.raises(DiskFull, match=r"disk full while writing .*export: free space on"):
        with run.stage("export", "k") as (out, _):
            raise StageError("export failed: INVALID_PROTOBUF")
    assert not list((tmp_path / "r").iterdir())


def test_records_read_what_stages_wrote_typed(tmp_path):
    from edgebert.pipeline.records import Records

    run = Run(tmp_path)
    written = {
        "distill": {"layers": [1, 3, 5], "parameters": 17},
        "prune": {"after": {"parameters": 9}, "steps": [{"training": {"device": "cpu"}}]},
        "export": {"student": {"vocab": {"parameters": 5}, "fused": {"fusions_offline": {"Attention": 3}}}},
        "quantize": {"mode": "dynamic", "mobile": {"verdict": "NO"}, "unpruned": {}, "bytes": 4},
        "evaluate": {"split": "dev.tsv", "n": 2, "models": {"teacher": {"accuracy": 1.0}}, "shipped": "student-int8"},
    }
    for stage, summary in written.items():
        with run.stage(stage, "k") as (_, record):
            record.update(summary)
    records = Records(run)
    assert records.distill.layers == [1, 3, 5] and records.distill.parameters == 17
    assert records.prune.parameters == 9 and records.prune.training == {"device": "cpu"}
    student = records.export.model("student")
    assert student.vocab == {"parameters": 5} and student.fusions_offline == {"Attention": 3}
    assert records.export.model("teacher").vocab is None  # a model the export did not record reads empty
    assert records.quantize.mode == "dynamic" and records.quantize.mobile_model is None
    assert set(records.quantize.shipped_scheme) == {"mode", "bytes", "seconds"}  # less the mobile and unpruned
    assert records.evaluate.shipped == "student-int8" and records.evaluate.peers == {}  # written before peers
    with pytest.raises(FileNotFoundError):  # a stage that has not finished is not read as empty
        _ = records.benchmark
