"""`edgebert check`: a dist/ folder against a budgets file, for CI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgebert.cli.base import friendly, main


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
@friendly
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
