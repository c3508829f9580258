"""The README's results table, rendered from the committed result files (results/<recipe>.json, each a copy of a
run's report/result.json), so no figure in it is typed by hand.

    python benchmarks/results_table.py            # print the table
    python benchmarks/results_table.py --write    # replace the table in README.md
    python benchmarks/results_table.py --check    # exit 1 if README.md's table differs (tests/test_readme.py)

After a benchmark run: cp runs/<recipe>/report/result.json results/<recipe>.json, then --write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgebert.results import load_results, render_table

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results table: benchmarks/results_table.py --write -->", "<!-- end of results table -->"
FOOTNOTE = "¹ Transcribed by hand from the run on the recipe's page; its next run replaces it."


def rendered(results: Path = ROOT / "results") -> str:
    rows = load_results(results)
    transcribed = any(r.get("source", "run") != "run" for r in rows)
    return render_table(rows) + ("\n" + FOOTNOTE + "\n" if transcribed else "")


def replace(readme: str, table: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's table differs")
    args = parser.parse_args()
    readme_path = ROOT / "README.md"
    readme, table = readme_path.read_text(), rendered()
    if args.write:
        readme_path.write_text(replace(readme, table))
    elif args.check:
        if replace(readme, table) != readme:
            print("README.md's results table differs from results/*.json: run benchmarks/results_table.py --write")
            return 1
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
