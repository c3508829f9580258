"""The Python API: `edgebert.compress(...)` runs a recipe as `edgebert compress` does and returns what it made.

    import edgebert
    result = edgebert.compress("recipes/quickstart.yaml", overrides=["distill.epochs=1"])
    result.dist, result.metrics[result.shipped]["accuracy"], result.exit_code

    result = edgebert.compress(edgebert.recipe_for("text-classification", teacher="my-bert", train="train.tsv",
                                                   eval="dev.tsv", test="test.tsv"))

A recipe is a path to a YAML file, a dict of recipe fields (relative paths read from the current folder unless it
sets `base_dir`), or a validated `Recipe`. A failed gate is not an exception: it is in `verdicts` and `exit_code`
(3 failed, 5 inconclusive), as the CLI's exit code. Bad input raises `edgebert.errors.EdgebertError` subclasses
with one readable line. Importing this module loads neither torch nor onnxruntime.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgebert.errors import RecipeError
from edgebert.progress import Reporter
from edgebert.recipe import Recipe, apply_overrides, load_recipe, parse_recipe
from edgebert.recipe.defaults import default_recipe, fit_to_data


@dataclass
class Result:
    """What a run made. `verdicts` are edgebert.gates.Verdict (gate, status, line()); `metrics` maps each
    evaluated model (teacher, the shipped one named by `shipped`, peers…) to its metrics on the test split;
    `stopped_after` is the --until stage, with no gates judged."""

    recipe: Recipe
    run_dir: Path
    dist: Path | None = None
    report: Path | None = None
    verdicts: list = field(default_factory=list)
    metrics: dict[str, dict] = field(default_factory=dict)
    shipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    stopped_after: str | None = None
    helper: bool = False  # a helper process of a multi-process launch: it trained alongside and wrote nothing

    @property
    def exit_code(self) -> int:
        """0 every gate passed, 3 one failed, 5 none failed and one is inconclusive."""
        from edgebert.gates import exit_code

        return exit_code(self.verdicts)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def compress(
    recipe: str | os.PathLike | dict | Recipe,
    runs_dir: str | os.PathLike = "runs",
    overrides: Sequence[str] = (),
    from_stage: str | None = None,
    until: str | None = None,
    wait: bool = False,
    reporter: Reporter | None = None,
) -> Result:
    """Run `recipe` into `runs_dir/<name>/`: finished stages are kept, `from_stage` reruns one and every later
    one, `until` stops after one. `overrides` are `field.path=value` strings, as `--set` takes them."""
    from edgebert.pipeline import compress as run_pipeline

    resolved = resolve(recipe, overrides)
    outcome = run_pipeline(resolved, Path(runs_dir), reporter, from_stage, wait, until)
    run_dir = Path(runs_dir) / resolved.name
    if outcome is None:  # a helper process of a multi-process launch
        return Result(resolved, run_dir, stopped_after=until, helper=True)
    if until and until != "report":
        return Result(resolved, outcome.run_dir, warnings=outcome.warnings, stopped_after=until)
    from edgebert.pipeline.records import Records
    from edgebert.runs import Run

    evaluation = Records(Run(outcome.run_dir)).evaluate
    return Result(
        resolved,
        outcome.run_dir,
        outcome.dist,
        outcome.report,
        outcome.verdicts,
        evaluation.models,
        evaluation.shipped,
        outcome.warnings,
    )


def resolve(recipe: str | os.PathLike | dict | Recipe, overrides: Sequence[str] = ()) -> Recipe:
    """A validated Recipe from a path, a dict of fields or a Recipe, with `overrides` applied."""
    if isinstance(recipe, (str, os.PathLike)):
        return load_recipe(recipe, overrides)
    if isinstance(recipe, Recipe):
        if not overrides:
            return recipe
        recipe = recipe.model_dump(mode="json")
    if not isinstance(recipe, dict):
        raise RecipeError(f"a recipe is a YAML path, a dict or a Recipe, not {type(recipe).__name__}")
    raw = apply_overrides(dict(recipe), overrides)
    raw.setdefault("base_dir", str(Path.cwd()))
    return parse_recipe(raw, source="recipe")


def recipe_for(
    task: str,
    teacher: str,
    train: str | os.PathLike,
    eval: str | os.PathLike | None = None,
    test: str | os.PathLike | None = None,
    name: str | None = None,
    target: str | None = None,
    overrides: Sequence[str] = (),
) -> Recipe:
    """The task's starting recipe (`edgebert init --task`) with the data and teacher filled in, fitted to the
    train split's size (edgebert.recipe.defaults.fit_to_data): what `edgebert compress --task … --teacher …
    --train …` runs. Local paths are made absolute, so the recipe reads the same files wherever it is written."""
    from edgebert.pipeline import split_sizes

    def local(p):
        return None if p is None else _absolute(str(p))

    raw = default_recipe(task, _absolute(teacher), local(train), local(eval), local(test), name, target)
    raw = apply_overrides(raw, overrides)
    raw["base_dir"] = str(Path.cwd())
    draft = parse_recipe(raw, source="the task's starting recipe")
    fit_to_data(raw, *split_sizes(draft))
    raw = apply_overrides(raw, overrides)  # an override wins over the fitted settings
    return parse_recipe(raw, source="the task's starting recipe")


def _absolute(value: str) -> str:
    """A local path made absolute; a hub id, a `package:` reference or a hub source dict left as it is."""
    if ":" in value.split("/", 1)[0] or not Path(value).expanduser().exists():
        return value
    return str(Path(value).expanduser().resolve())
