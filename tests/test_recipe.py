from pathlib import Path

import pytest

from edgebert.errors import RecipeError
from edgebert.recipe import load_recipe, parse_recipe

ROOT = Path(__file__).resolve().parents[1]
BASE = {"name": "r", "data": {"train": "t.tsv"}, "teacher": {"model": "m"}}


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.name and recipe.teacher.model


def test_misspelt_key_names_key_file_and_nearest(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ndata: {train: t.tsv}\nteacher: {model: m}\ndistill: {num_layers: 2, epocs: 3}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: unknown field 'distill\.epocs'; did you mean 'distill\.epochs'"):
        load_recipe(path)


def test_misspelt_top_level_key():
    with pytest.raises(RecipeError, match=r"unknown field 'quantise'; did you mean 'quantize'"):
        parse_recipe({**BASE, "quantise": {"mode": "dynamic"}})


def test_wrong_type_names_field_and_expectation():
    with pytest.raises(RecipeError, match=r"field 'distill\.epochs': Input should be a valid integer.*'three'"):
        parse_recipe({**BASE, "distill": {"num_layers": 2, "epochs": "three"}})


def test_set_overrides_nested_fields(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ndata: {train: t.tsv}\nteacher: {model: m}\n")
    recipe = load_recipe(path, ["distill.num_layers=2", "distill.epochs=1", "benchmark.threads=[1, 2]"])
    assert recipe.distill.num_layers == 2 and recipe.distill.epochs == 1 and recipe.benchmark.threads == [1, 2]
    assert recipe.path("t.tsv") == tmp_path / "t.tsv"


def test_bad_set_syntax(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ndata: {train: t.tsv}\nteacher: {model: m}\n")
    with pytest.raises(RecipeError, match="expected FIELD=VALUE"):
        load_recipe(path, ["distill.epochs"])


def test_latency_gate_needs_a_benchmarked_thread_count():
    with pytest.raises(RecipeError, match="add it to benchmark.threads"):
        parse_recipe({**BASE, "benchmark": {"threads": [1]}, "gates": {"latency": {"threads": 2, "p90_ms": 5}}})


def test_distill_needs_exactly_one_layer_choice():
    with pytest.raises(RecipeError, match="exactly one of distill.layers"):
        parse_recipe({**BASE, "distill": {"layers": [1], "num_layers": 1}})


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_stage_keys_ignore_fields_left_at_their_default():
    """A field added later with a default (or written out at its default) must not invalidate finished runs."""
    base = {"name": "x", "data": {"train": "t.tsv"}, "teacher": {"model": "m", "finetune": {"epochs": 1}}}
    plain = parse_recipe(base)
    explicit = parse_recipe({**base, "teacher": {"model": "m", "finetune": {"epochs": 1, "group_by_length": True}}})
    changed = parse_recipe({**base, "teacher": {"model": "m", "finetune": {"epochs": 1, "group_by_length": False}}})
    assert plain.section_hash("teacher") == explicit.section_hash("teacher") != changed.section_hash("teacher")


def test_prune_targets_are_validated():
    base = {"name": "x", "data": {"train": "t.tsv"}, "teacher": {"model": "m"}}
    with pytest.raises(RecipeError, match=r"prune.heads.*less than 1"):
        parse_recipe({**base, "prune": {"heads": 1.0}})
    with pytest.raises(RecipeError, match="not both and not neither"):
        parse_recipe({**base, "prune": {"heads": 0.5, "budget": {"p50_ms": 3}}})
    with pytest.raises(RecipeError, match="exactly one of p50_ms"):
        parse_recipe({**base, "prune": {"budget": {"threads": 2}}})
