"""`compress`: run a recipe's stages in order, each into `runs/<name>/<stage>/`, skipping finished ones.

    teacher -> distill -> prune -> export -> quantize -> evaluate -> benchmark -> package (dist/) -> report -> gates

The stages, their keys and their adapters are a table (table.py); the models of a run are named once
(context.py). This module only walks the table: it computes each key, keeps a finished stage or runs it
atomically, prints one line per stage, and judges the gates before the report. With pruning, the model before
pruning is exported, quantized, evaluated and timed too ("unpruned-int8"), so the report compares before and after.

Launched as several processes (`accelerate launch`, `torchrun`), every process walks the training stages together
(teacher, distill, prune: each trains on its shard of every batch); only the main process locks the run, writes
stages and goes on to the ONNX stages. The others return None once the last training stage is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgebert import tasks
from edgebert.data import fingerprint
from edgebert.errors import RecipeError
from edgebert.gates import Verdict, check_gates, exit_code, quality_resolution_warning
from edgebert.pipeline.context import Context
from edgebert.pipeline.table import NAMES, STAGES, Stage
from edgebert.progress import Reporter
from edgebert.recipe import Recipe, recipe_to_yaml
from edgebert.runs import Run, read_json, recipe_changes, write_json, write_text
from edgebert.training import devices

TRAINING = ("teacher", "distill", "prune")  # the stages every process of a multi-process launch runs


@dataclass
class Outcome:
    run_dir: Path
    dist: Path
    report: Path
    verdicts: list[Verdict]
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdicts)


def compress(
    recipe: Recipe,
    runs_dir: Path,
    reporter: Reporter | None = None,
    from_stage: str | None = None,
    wait: bool = False,
    until: str | None = None,
) -> Outcome | None:
    """Run the recipe; returns where things are and the gate verdicts (the caller decides the exit code), or
    None in a helper process of a multi-process launch. The run folder is locked for the whole run: a second run
    on it is refused, or (`wait`) waits. `until` stops after that stage (no gates judged): train on one machine,
    ship from another."""
    reporter = reporter or Reporter()
    for flag, name in (("--from", from_stage), ("--until", until)):
        if name is not None and name not in NAMES:
            raise RecipeError(f"{flag} {name!r}: stages are {', '.join(NAMES)}")
    ctx = context(recipe, runs_dir, reporter)
    for note in ctx.data.notes:
        reporter.warn(note)
    forced = set(NAMES[NAMES.index(from_stage) :]) if from_stage else set()
    plan(ctx)
    last = NAMES.index(until) if until else len(NAMES) - 1
    devices.join(recipe.training)
    if not devices.is_main():
        _train_alongside(ctx, forced, NAMES[: last + 1])
        return None
    with ctx.run.lock(wait):
        _open_run(ctx)
        for stage in STAGES[: last + 1]:
            if stage.name == "report":  # the verdicts (and their warnings) are part of the report
                ctx.verdicts = judge(ctx)
            _run_stage(ctx, stage, stage.name in forced)
            _after(ctx, stage.name)
            if stage.name in forced:
                _outdate(ctx, stage.name, NAMES[last + 1 :])
    return Outcome(ctx.run.root, ctx.dir("package"), ctx.dir("report") / "report.md", ctx.verdicts, reporter.warnings)


def _outdate(ctx: Context, rerun: str, later: tuple[str, ...]) -> None:
    """A stage rerun by --from keeps its key, so the stages after --until, which this run does not redo, would
    still look finished with the old output: their stamps go, and the next run redoes them."""
    outdated = [name for name in later if ctx.run.forget(name)]
    if outdated:
        ctx.reporter.info(f"  {', '.join(outdated)}: made from the old {rerun} output; the next run redoes them")


def _open_run(ctx: Context) -> None:
    """Clear what an interrupted run left, and say when the run folder last held another recipe's run."""
    removed, freed = ctx.run.sweep()
    if removed:
        where = ctx.run.root
        ctx.reporter.info(f"removed {removed} folder(s) an interrupted run left in {where} ({freed / 1e6:.1f} MB)")
    record = ctx.run.root / "run.json"
    current = ctx.recipe.model_dump(mode="json", exclude={"base_dir"})
    if record.is_file():
        previous = read_json(record)
        changed = recipe_changes(previous.get("recipe", {}), current)
        if changed:
            ctx.reporter.warn(
                f"{ctx.run.root} holds a run of a different recipe ({previous.get('source', '?')}; sections "
                f"changed: {', '.join(changed)}): stages whose inputs changed are redone and replace that run's"
            )
    ctx.run.root.mkdir(parents=True, exist_ok=True)
    write_json(record, {"source": ctx.recipe.base_dir, "recipe": current})
    # the recipe as run, paths read from its base_dir: `edgebert compress runs/<name>/recipe.yaml` redoes this run
    write_text(ctx.run.root / "recipe.yaml", recipe_to_yaml(ctx.recipe, with_base_dir=True))


def context(recipe: Recipe, runs_dir: Path, reporter: Reporter | None = None) -> Context:
    """The run's context: the recipe's task, its data (read and checked) and its run folder."""
    task = tasks.get(recipe.task)
    data = task.read_data(recipe.data, recipe.path)
    run = Run(Path(runs_dir) / recipe.name)
    return Context(recipe, task, data, fingerprint(recipe.data, recipe.path), run, reporter or Reporter())


def split_sizes(recipe: Recipe) -> tuple[int, int]:
    """How many examples the recipe's train and test splits hold (read as the run reads them)."""
    data = tasks.get(recipe.task).read_data(recipe.data, recipe.path)
    return len(data.train), len(data.test)


def plan(ctx: Context) -> dict[str, str]:
    """Every stage's key up to package, before anything runs (keys depend on the recipe and data only); the
    report's key also covers the run's warnings, so it is known only at the end."""
    for stage in STAGES[:-1]:
        ctx.keys[stage.name] = stage.key(ctx) if stage.enabled(ctx.recipe) else ctx.keys[stage.reads[0]]
    return dict(ctx.keys)


def _run_stage(ctx: Context, stage: Stage, forced: bool) -> None:
    if not stage.enabled(ctx.recipe):
        return
    key = ctx.keys.get(stage.name) or ctx.keys.setdefault(stage.name, stage.key(ctx))  # the report's: known now
    if stage.name in TRAINING or stage.name == "export":
        devices.barrier()  # helpers look at the run folder when this process does, and leave after training
    ctx.checkpoints = ctx.run.checkpoints(stage.name, key)
    if not forced and ctx.run.done(stage.name, key):
        ctx.reporter.info(
            f"[dim]✓ {stage.name:<9} kept from the last run: {stage.describe(ctx, ctx.run.summary(stage.name))}[/]"
        )
        return
    ctx.reporter.info(f"▶ {stage.name}")
    with ctx.run.stage(stage.name, key) as (out, summary):
        summary.update(stage.run(ctx, out))
    summary = ctx.run.summary(stage.name)
    ctx.reporter.info(f"✓ {stage.name:<9} {stage.describe(ctx, summary)} ({_duration(summary['seconds'])})")


def _after(ctx: Context, stage: str) -> None:
    """What the data needs from a finished stage: a task may score its eval split with the teacher (sentence
    embeddings without scored pairs)."""
    if stage == "teacher" and hasattr(ctx.task, "with_teacher"):
        ctx.data = ctx.task.with_teacher(ctx.data, ctx.teacher_dir, ctx.model_options, ctx.max_length)


def _train_alongside(ctx: Context, forced: set[str], names: tuple[str, ...]) -> None:
    """A helper process: run each training stage the main process runs (the same decisions, made after the same
    barrier), writing nothing: its copy of a stage's output goes to a folder that is thrown away."""
    for stage in STAGES:
        if stage.name not in TRAINING or stage.name not in names or not stage.enabled(ctx.recipe):
            continue
        key = ctx.keys[stage.name]
        devices.barrier()
        if stage.name != "teacher":
            _after(ctx, "teacher")  # by this barrier the main process has written the teacher
        ctx.checkpoints = ctx.run.checkpoints(stage.name, key)
        if stage.name in forced or not ctx.run.done(stage.name, key):
            with tempfile.TemporaryDirectory(prefix=f"edgebert-{stage.name}-") as scratch:
                stage.run(ctx, Path(scratch))
    if "export" in names:
        devices.barrier()  # the main process has written the last training stage


def judge(ctx: Context) -> list[Verdict]:
    """The recipe's gates on the recorded evaluation and benchmark of the shipped model."""
    r, quant = ctx.recipe, ctx.records.quantize
    evaluation, timings = ctx.records.evaluate, ctx.records.benchmark
    usable = ("model.mobile.onnx", quant.mobile_model["usability"]) if ctx.mobile else ("model.onnx", quant.mobile)
    quality = r.gates.quality_gate(ctx.task.PRIMARY_METRIC)
    verdicts = check_gates(
        r.gates, evaluation.raw, timings.raw, timings.file_mb[ctx.shipped], usable, ctx.task.PRIMARY_METRIC
    )
    if quality is not None and quality.max_drop is not None:
        warning = quality_resolution_warning(evaluation.raw, quality)
        if warning:
            ctx.reporter.warn(warning)
    return verdicts


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 90 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
