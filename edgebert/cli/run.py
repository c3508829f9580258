"""`edgebert compress` (a recipe file, or a task's defaults) and `edgebert init` (a starting recipe)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgebert.cli.base import friendly, main
from edgebert.cli.signals import _interruptible
from edgebert.errors import RecipeError
from edgebert.tasks import names as task_names

# the pipeline's stages in order (edgebert.pipeline.table.NAMES, which tests/test_cli.py checks this against):
# named here so that `edgebert --help` imports no pipeline code
STAGES = ("teacher", "distill", "prune", "export", "quantize", "evaluate", "benchmark", "package", "report")
TASKS = task_names()  # the registry's names: importing it loads no task module
TARGETS = ("x86", "arm", "mobile", "web")  # edgebert.recipe.defaults.TARGETS, checked too


@main.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--task", type=click.Choice(TASKS), help="Without RECIPE: the task whose defaults fill the recipe.")
@click.option("--teacher", metavar="MODEL", help="Without RECIPE: the teacher, a local folder or a hub id.")
@click.option("--train", metavar="FILE", help="Without RECIPE: the train split (TSV/CSV/JSONL/CoNLL).")
@click.option("--eval", "eval_", metavar="FILE", help="Without RECIPE: the eval split (default: 10% of train).")
@click.option("--test", metavar="FILE", help="Without RECIPE: the test split the gates judge.")
@click.option("--target", type=click.Choice(TARGETS), help="Without RECIPE: where the model runs (default: this CPU).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a recipe field, e.g. --set distill.epochs=1 (repeatable).",
)
@click.option("--from", "from_stage", type=click.Choice(STAGES), help="Rerun this stage and every later one.")
@click.option(
    "--until", type=click.Choice(STAGES), help="Stop after this stage (e.g. prune: train here, ship elsewhere)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The run folder (default: RUNS_DIR/<recipe name>); its name becomes the recipe's name.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where run folders go (runs/<recipe name>/<stage>/).",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved recipe and exit.")
@click.option("--wait", is_flag=True, help="If another run holds the run folder, wait for it instead of stopping.")
@click.option(
    "--progress-every",
    type=click.FloatRange(min=1),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="When stderr is not a terminal (CI, a log file): print a progress line this often.",
)
@friendly
def compress(
    recipe: Path | None,
    task: str | None,
    teacher: str | None,
    train: str | None,
    eval_: str | None,
    test: str | None,
    target: str | None,
    overrides: tuple[str, ...],
    from_stage: str | None,
    until: str | None,
    out: Path | None,
    runs_dir: Path,
    dry_run: bool,
    wait: bool,
    progress_every: float,
) -> None:
    """Run RECIPE: teacher, distill, prune, export, quantize, evaluate, benchmark, package, report, gates.

    Without a recipe file, --task, --teacher and --train (and --eval, --test, --target) fill in the task's
    starting recipe (`edgebert init --task T` prints it); the run folder keeps the recipe it ran as recipe.yaml.

    Finished stages are kept and skipped on a re-run; an interrupted training stage resumes from its last
    checkpoint. Exits 3 when a gate fails, 5 when none fails but a latency gate is inconclusive (its interval
    straddles the bound), after writing everything. Several processes: accelerate launch -m edgebert compress …
    """
    from edgebert import api
    from edgebert.recipe import recipe_to_yaml

    if out is not None:
        runs_dir, overrides = out.parent, (*overrides, f"name={out.name}")
    given = {"--task": task, "--teacher": teacher, "--train": train, "--eval": eval_, "--test": test}
    given["--target"] = target
    if recipe is not None:
        extra = [flag for flag, value in given.items() if value is not None]
        if extra:
            raise RecipeError(f"{', '.join(extra)} fill in a recipe without a file: give RECIPE or them, not both")
        resolved = api.resolve(recipe, overrides)
    else:
        missing = [flag for flag in ("--task", "--teacher", "--train") if given[flag] is None]
        if missing:
            raise RecipeError(f"give a RECIPE file, or {', '.join(missing)} to run the task's defaults")
        resolved = api.recipe_for(task, teacher, train, eval_, test, target=target, overrides=overrides)
    if dry_run:
        click.echo(recipe_to_yaml(resolved, with_base_dir=recipe is None), nl=False)
        return
    from edgebert.progress import Reporter, for_console
    from edgebert.training.devices import is_main

    reporter = for_console(progress_every) if is_main() else Reporter()  # helper processes print nothing
    with _interruptible():
        result = api.compress(resolved, runs_dir, from_stage=from_stage, until=until, wait=wait, reporter=reporter)
    if result.helper:
        return  # a helper process of a multi-process launch prints nothing
    if result.stopped_after and result.stopped_after != "report":
        click.echo(f"stopped after {until}: {result.run_dir}", err=True)
        return
    colour = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for verdict in result.verdicts:
        click.secho(verdict.line(), fg=colour[verdict.status], err=True)
    click.echo(f"dist:   {result.dist}\nreport: {result.report}\nrecipe: {result.run_dir / 'recipe.yaml'}", err=True)
    for status in ("fail", "inconclusive"):
        gates = ", ".join(v.gate for v in result.verdicts if v.status == status)
        if gates:
            word = "failed" if status == "fail" else "inconclusive"
            click.secho(f"error: gate {word}: {gates} (everything above was written)", fg=colour[status], err=True)
    if result.exit_code:
        sys.exit(result.exit_code)


@main.command()
@click.option("--task", required=True, type=click.Choice(TASKS), help="The task the recipe is for.")
@click.option("--teacher", metavar="MODEL", help="Fill in the teacher (a local folder or a hub id).")
@click.option("--train", metavar="FILE", help="Fill in the train split.")
@click.option("--eval", "eval_", metavar="FILE", help="Fill in the eval split.")
@click.option("--test", metavar="FILE", help="Fill in the test split.")
@friendly
def init(task: str, teacher: str | None, train: str | None, eval_: str | None, test: str | None) -> None:
    """Print an annotated starting recipe for TASK (the benchmark recipes' tuned settings):
    edgebert init --task text-classification > recipe.yaml"""
    from edgebert.recipe.defaults import init_text

    click.echo(init_text(task, teacher=teacher, train=train, eval=eval_, test=test), nl=False)
