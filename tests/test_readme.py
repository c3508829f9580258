"""The README as a product page: its results table is rendered from the committed result files, every file it
names exists, it stays short, and nothing a user reads cites internal issue numbers."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _table_script():
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "benchmarks" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_results_table_is_the_rendering_of_results():
    script = _table_script()
    assert script.replace(README, script.rendered()) == README, "run benchmarks/results_table.py --write"


def test_every_result_names_its_cpu_and_int8_instructions_and_a_docs_page():
    from edgebert.results import load_results

    rows = load_results(ROOT / "results")
    demos = {"quickstart", "quickstart-budget", "quickstart-ner", "quickstart-embeddings"}
    assert {r["recipe"] for r in rows} == {p.stem for p in (ROOT / "recipes").glob("*.yaml")} - demos
    for r in rows:
        assert r["host"]["cpu"] and r["host"]["cores"] and r["host"]["int8_dot"] is not None, r["recipe"]
        assert (
            re.fullmatch(r"\d{4}-\d\d-\d\d", r["date"])
            and (ROOT / "docs" / "benchmarks" / f"{r['recipe']}.md").is_file()
        )


def test_the_table_marks_transcribed_rows_and_other_input_lengths():
    from edgebert.results import render_table

    row = json.loads((ROOT / "results" / "sst2-minilm.json").read_text())
    assert " ¹ |" in render_table([row | {"source": "transcribed"}]) and " ¹ |" not in render_table(
        [row | {"source": "run"}]
    )
    # the header says seq 128: a row timed at another length says its own
    assert "x (seq 384) |" in render_table([row | {"seq": 384}]) and "(seq" not in render_table([row])


def test_the_readme_stays_a_short_page():
    assert len(README.split()) <= 1050  # the generated table included


def test_every_path_the_readme_names_exists():
    named = set(re.findall(r"\b((?:recipes|docs|benchmarks|budgets)/[\w./-]+\.(?:yaml|md|py))", README))
    named |= {f"{d}/" for d in re.findall(r"\b(docs/benchmarks|recipes/data)/", README)}
    assert named
    for path in named:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("folder", ["README.md", "docs", "recipes", "edgebert"])
def test_nothing_a_user_reads_cites_an_issue_number(folder):
    paths = [ROOT / folder] if folder.endswith(".md") else sorted((ROOT / folder).rglob("*.*"))
    for path in paths:
        if path.suffix in (".md", ".yaml", ".py", ".txt"):
            found = re.findall(r"\b[Ii]ssues? \d+|\(#\d+\)", path.read_text())
            assert not found, f"{path.relative_to(ROOT)}: {found}"


def test_a_run_writes_its_result_file(compressed):
    from edgebert.results import FORMAT, render_table

    folder, _, _ = compressed
    result = json.loads((folder / "runs" / "tiny" / "report" / "result.json").read_text())
    assert result["format"] == FORMAT and result["source"] == "run" and result["recipe"] == "tiny"
    assert result["host"]["cores"] >= 1 and result["metric"] == "accuracy" and result["file_mb"] > 0
    assert 0 <= result["shipped"] <= 1 and result["x_pytorch"] > 0 and result["peer"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", result["date"])
    assert "| [tiny](docs/benchmarks/tiny.md) | classification | accuracy " in render_table([result])
