"""The task seam: every registered task module provides what the pipeline asks of a task; recipes name tasks
and quality metrics that exist; the pipeline only schedules (small modules, short functions, typed stage calls)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from edgebert import tasks
from edgebert.errors import RecipeError
from edgebert.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1] / "edgebert"
BASE = {"name": "t", "data": {"train": "x.tsv"}, "teacher": {"model": "m"}}


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_module_provides_the_seam(name):
    module = tasks.get(name)
    wanted = inspect.get_annotations(tasks.Task) | {
        n: f for n, f in vars(tasks.Task).items() if callable(f) and not n.startswith("_")
    }
    missing = [n for n in wanted if not hasattr(module, n)]
    assert not missing, f"{name} lacks {missing}"
    assert module.NAME == name and module.PRIMARY_METRIC == module.METRICS[0]
    assert [m for m, _ in module.report_columns()][0] == module.PRIMARY_METRIC


def test_unknown_task_and_quality_metric_name_the_choices():
    with pytest.raises(RecipeError, match=r"task 'speech' is not one edgebert knows; tasks: text-classification"):
        parse_recipe({**BASE, "task": "speech"})
    with pytest.raises(RecipeError, match=r"'entity_f1' is not a text-classification metric; choose from accuracy"):
        parse_recipe({**BASE, "gates": {"quality": {"metric": "entity_f1", "max_drop": 0.01}}})
    with pytest.raises(RecipeError, match=r"gates.accuracy is an alias of gates.quality"):
        parse_recipe({**BASE, "gates": {"accuracy": {"max_drop": 0.01}, "quality": {"max_drop": 0.01}}})


def test_accuracy_gate_is_the_quality_gate_on_accuracy():
    from edgebert.gates import check_gates

    evaluation = {
        "shipped": "s",
        "n": 100,
        "models": {
            "teacher": {"accuracy": {"value": 0.9}, "macro_f1": {"value": 0.9}},
            "s": {"accuracy": {"value": 0.88}, "macro_f1": {"value": 0.8}},
        },
    }
    alias = parse_recipe({**BASE, "gates": {"accuracy": {"max_drop": 0.015}}}).gates
    quality = parse_recipe({**BASE, "gates": {"quality": {"max_drop": 0.015}}}).gates
    assert check_gates(alias, evaluation, {}, 1.0) == check_gates(quality, evaluation, {}, 1.0)
    (v,) = check_gates(alias, evaluation, {}, 1.0)
    assert v.gate == "accuracy" and v.measured == 2.0 and v.status == "fail"
    f1 = parse_recipe({**BASE, "gates": {"quality": {"metric": "macro_f1", "max_drop": 0.2, "min": 0.85}}}).gates
    drop, floor = check_gates(f1, evaluation, {}, 1.0)
    assert (drop.gate, drop.status, floor.gate, floor.status) == ("macro_f1", "pass", "macro_f1-min", "fail")


def _functions(path: Path):
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]


def test_the_pipeline_only_schedules():
    for path in sorted((ROOT / "pipeline").glob("*.py")):
        assert len(path.read_text().splitlines()) < 250, path.name
        long = [f.name for f in _functions(path) if f.end_lineno - f.lineno + 1 > 60]
        assert not long, f"{path.name}: {long} over 60 lines"
    for path in sorted((ROOT / "stages").glob("*.py")):
        for f in _functions(path):
            if f.name.startswith("run_"):
                n = len(f.args.args) + len(f.args.kwonlyargs)
                assert n <= 6, f"{path.name}: {f.name} takes {n} parameters"
