"""The `edgebert` command: parse arguments, call one library function, print. No logic lives here.

Exit codes: 0 success · 1 unexpected bug · 2 bad input (recipe, budgets, data, files, arguments, a run folder
in use) · 3 a gate or budget failed · 4 a stage could not produce a trustworthy result · 5 a latency gate or
budget was inconclusive · 6 the disk filled up while a stage was writing · 130 Ctrl-C · 143 SIGTERM.
Importing this module loads neither torch nor onnxruntime.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from pathlib import Path

import click

from edgebert import __version__
from edgebert.errors import EdgebertError


def _friendly(fn):
    """Library errors become one line on stderr and their exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _user_errors() as e:
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(getattr(e, "exit_code", 2))

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgebert")
def main() -> None:
    """Turn a BERT-family model into a small, fast, verified ONNX model."""
    _quiet_libraries()


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a recipe field, e.g. --set distill.epochs=1 (repeatable).",
)
@click.option("--from", "from_stage", metavar="STAGE", help="Rerun this stage and every later one.")
@click.option("--until", metavar="STAGE", help="Stop after this stage (e.g. prune: train here, ship elsewhere).")
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
@_friendly
def compress(
    recipe: Path,
    overrides: tuple[str, ...],
    from_stage: str | None,
    until: str | None,
    runs_dir: Path,
    dry_run: bool,
    wait: bool,
    progress_every: float,
) -> None:
    """Run RECIPE: teacher, distill, prune, export, quantize, evaluate, benchmark, package, report, gates.

    Finished stages are kept and skipped on a re-run; an interrupted training stage resumes from its last
    checkpoint. Exits 3 when a gate fails, 5 when none fails but a latency gate is inconclusive (its interval
    straddles the bound), after writing everything. Several processes: accelerate launch -m edgebert compress …
    """
    from edgebert.recipe import load_recipe, recipe_to_yaml

    resolved = load_recipe(recipe, overrides)
    if dry_run:
        click.echo(recipe_to_yaml(resolved), nl=False)
        return
    from edgebert.pipeline import compress as run_compress
    from edgebert.progress import Reporter, for_console
    from edgebert.training.devices import is_main

    reporter = for_console(progress_every) if is_main() else Reporter()  # helper processes print nothing
    with _interruptible():
        outcome = run_compress(resolved, runs_dir, reporter, from_stage, wait, until)
    if outcome is None:
        return
    if until and until != "report":
        click.echo(f"stopped after {until}: {outcome.run_dir}", err=True)
        return
    colour = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for verdict in outcome.verdicts:
        click.secho(verdict.line(), fg=colour[verdict.status], err=True)
    click.echo(f"dist:   {outcome.dist}\nreport: {outcome.report}", err=True)
    for status in ("fail", "inconclusive"):
        gates = ", ".join(v.gate for v in outcome.verdicts if v.status == status)
        if gates:
            word = "failed" if status == "fail" else "inconclusive"
            click.secho(f"error: gate {word}: {gates} (everything above was written)", fg=colour[status], err=True)
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.argument("texts", nargs=-1, required=True)
@click.option("--threads", type=int, default=None, help="Intra-op threads (default: ONNX Runtime's choice).")
@_friendly
def predict(dist: Path, texts: tuple[str, ...], threads: int | None) -> None:
    """Run the model in DIST on TEXTS. A classifier prints label, score and text; a token classifier one line per
    entity: text number, label, start and end character, score, entity text; an embedder the text number and the
    vector's floats, space-separated (`edgebert embed` writes files of them). Tab-separated (tabs, newlines and
    backslashes in a text are written as \\t, \\n and \\\\, so each prediction stays one line)."""
    from edgebert.runtime import load

    clf = load(dist, threads=threads)
    if clf.manifest["task"]["name"] == "sentence-embedding":
        for i, vector in enumerate(clf.embed(list(texts)), 1):
            click.echo(f"{i}\t" + " ".join(f"{x:.6g}" for x in vector))
        return
    if clf.manifest["task"]["name"] == "token-classification":
        for i, found in enumerate(clf.predict(list(texts)), 1):
            for e in found:
                click.echo(f"{i}\t{e.label}\t{e.start}\t{e.end}\t{e.score:.4f}\t{_one_line(e.text)}")
        return
    for i, cut in enumerate(clf.truncated(list(texts)), 1):
        if cut:
            click.secho(
                f"note: text {i} is longer than the model's {clf.max_length} tokens; only its start was read",
                fg="yellow",
                err=True,
            )
    for text, p in zip(texts, clf.predict(list(texts)), strict=True):
        click.echo(f"{p.label}\t{p.score:.4f}\t{_one_line(text)}")


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.option("--input", "source", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Texts.")
@click.option("--column", help="TSV/CSV column or JSONL field with the texts (default: one text per line).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Vectors (.npy).")
@click.option("--batch-size", default=32, show_default=True, help="Texts per model call.")
@click.option("--threads", type=int, default=None, help="Intra-op threads (default: ONNX Runtime's choice).")
@click.option(
    "--progress-every",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="When stderr is not a terminal: print a progress line this often.",
)
@_friendly
def embed(
    dist: Path,
    source: Path,
    column: str | None,
    output: Path,
    batch_size: int,
    threads: int | None,
    progress_every: float,
) -> None:
    """Embed every row of --input with the sentence-embedding model in DIST into --output, a float32 .npy
    [rows, dim] in input order. Streamed: memory holds one chunk of 4,096 texts whatever the file's length."""
    from edgebert.progress import for_console
    from edgebert.runtime import load
    from edgebert.runtime.bulk import embed_file
    from edgebert.runtime.errors import DistError

    model = load(dist, threads=threads)
    if model.manifest["task"]["name"] != "sentence-embedding":
        raise DistError(f"{dist} holds a {model.manifest['task']['name']} model; embed needs a sentence-embedding one")
    result = embed_file(model, source, output, column, batch_size, track=for_console(progress_every).track)
    click.echo(f"{result['rows']:,} vectors of {result['dim']} floats -> {output}")


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


@main.command()
@click.argument("dist", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--provider",
    "providers",
    multiple=True,
    default=("cpu",),
    show_default=True,
    help="tensorrt, cuda, coreml, nnapi, xnnpack or cpu (repeatable; each is timed).",
)
@click.option(
    "--threads",
    "threads",
    multiple=True,
    type=int,
    default=(1, 2),
    show_default=True,
    help="Intra-op thread counts (repeatable).",
)
@click.option("--batch", default=1, show_default=True, help="Batch size of the fixed input.")
@click.option("--seq", default=128, show_default=True, help="Sequence length of the fixed input.")
@click.option("--iterations", default=200, show_default=True, help="Timed calls per setting.")
@click.option("--mobile", is_flag=True, help="Time model.mobile.onnx (fixed shape) instead of model.onnx.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_friendly
def bench(
    dist: Path,
    providers: tuple[str, ...],
    threads: tuple[int, ...],
    batch: int,
    seq: int,
    iterations: int,
    mobile: bool,
    as_json: bool,
) -> None:
    """Time the model in DIST with the runtime apps use: p50/p90/p99 per provider and thread count."""
    import json

    from edgebert.timing.bench_dist import bench_dist

    rows = bench_dist(dist, list(providers), list(threads), batch, seq, iterations, mobile)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("provider\tthreads\tbatch\tseq\tio\tp50 ms\tp90 ms\tp99 ms\tused")
    for r in rows:
        click.echo(
            f"{r['provider']}\t{r['threads']}\t{r['batch']}\t{r['seq']}\t{r['io']}\t{r['p50_ms']:.2f}"
            f"\t{r['p90_ms']:.2f}\t{r['p99_ms']:.2f}\t{r['used']}"
        )


@main.command()
@click.argument("dist", type=click.Path(path_type=Path))
@click.option("--budgets", "budgets_file", required=True, type=click.Path(path_type=Path), help="Budgets YAML.")
@click.option("--data", type=click.Path(path_type=Path), help="Labelled TSV/CSV/JSONL to measure accuracy on.")
@click.option("--text", default="sentence", show_default=True, help="Text column of --data.")
@click.option("--label", default="label", show_default=True, help="Label column of --data.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Old dist folder or its edgebert.json.")
@click.option("--reference", type=click.Path(path_type=Path), help="Reference dist folder or .onnx file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Write a Markdown summary here.")
@_friendly
def check(
    dist: Path,
    budgets_file: Path,
    data: Path | None,
    text: str,
    label: str,
    baseline: Path | None,
    reference: Path | None,
    as_json: bool,
    junit: Path | None,
    markdown: Path | None,
) -> None:
    """Check DIST against size, accuracy and latency budgets.

    Exit codes: 0 every budget passed · 3 a budget failed · 5 inconclusive (a latency interval straddles its
    bound: re-run, or time more rounds) · 2 usage or input error.
    """
    from rich.console import Console

    from edgebert.ci.budgets import load_budgets
    from edgebert.ci.check import run_check
    from edgebert.ci.output import append_github_summary, print_table, to_json, to_markdown, write_junit

    report = run_check(dist, load_budgets(budgets_file), data, baseline, reference, text, label)
    if as_json:
        click.echo(to_json(report))
    else:
        # CI logs are not terminals; rich would wrap the table at 80 columns there
        print_table(report, Console(width=None if sys.stdout.isatty() else 160))
    if junit:
        write_junit(report, junit)
    if markdown:
        markdown.write_text(to_markdown(report))
    append_github_summary(report)
    sys.exit(report.exit_code)


@contextlib.contextmanager
def _interruptible():
    """Ctrl-C and SIGTERM (a cancelled CI job) end the run with one line and exit 130 or 143 (128 + the signal):
    both raise KeyboardInterrupt where the process is, so the stage being written is removed and finished stages
    stay. Only the CLI installs signal handlers; the library changes no process-wide state.

    The handlers note the signal before raising: a signal that lands inside a C or Rust extension can come out as
    that library's own error (safetensors turned one into a ValueError while loading the teacher), and once a
    signal has arrived, whatever unwinds the run is that signal's doing."""
    received: list[int] = []

    def interrupt(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt()

    # a signal the parent set to be ignored (a background job's Ctrl-C) stays ignored
    watched = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, interrupt) for sig in watched}
    try:
        yield
    except BaseException as e:
        if not received and not isinstance(e, KeyboardInterrupt):
            raise
        terminated = received[:1] == [signal.SIGTERM]
        which, code = ("terminated (SIGTERM)", 143) if terminated else ("interrupted (Ctrl-C)", 130)
        click.secho(
            f"error: {which}: finished stages are kept, a training stage keeps its last checkpoint; "
            "run the same command to resume",
            fg="red",
            err=True,
        )
        sys.exit(code)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _user_errors() -> tuple[type[Exception], ...]:
    # the runtime imports nothing from edgebert, so its DistError has its own base; look it up only if loaded
    runtime = sys.modules.get("edgebert.runtime.errors")
    return (EdgebertError,) + ((runtime.DistError,) if runtime is not None else ())


def _quiet_libraries() -> None:
    # Only the CLI entry point configures logging and library chatter (the library never does).
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # third-party deprecation and tracer warnings are not the user's to act on; edgebert's own go via Reporter
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR)
    for name in ("optimum", "transformers", "onnxruntime", "fusion_attention"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    main()
