"""`import edgebert`, the CLI's --help and the runtime must stay light: apps embed the runtime without torch."""

import subprocess
import sys

import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_package_and_cli_help_load_neither_torch_nor_onnxruntime():
    code = (
        "import sys\nfrom click.testing import CliRunner\nimport edgebert, edgebert.cli\n"
        "r = CliRunner().invoke(edgebert.cli.main, ['compress', '--help'])\nassert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("blocked", ["torch", "transformers"])
def test_runtime_never_imports_torch(blocked, tmp_path):
    # None in sys.modules makes any `import torch` raise ImportError, so a hidden import fails the test
    code = (
        f"import sys\nsys.modules[{blocked!r}] = None\nimport edgebert.runtime\n"
        "from edgebert.runtime import load, TextClassifier\n"
        f"assert sys.modules[{blocked!r}] is None\nprint('ok')\n"
    )
    result = _run(code)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


def test_runtime_imports_nothing_from_the_rest_of_edgebert():
    import ast
    from pathlib import Path

    runtime = Path(__file__).resolve().parents[1] / "edgebert" / "runtime"
    for path in runtime.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("edgebert"):
                    assert name.startswith("edgebert.runtime"), f"{path.name} imports {name}"
    from edgebert.runtime.loader import PREDICTORS  # predictor classes are named as strings: in the runtime too

    assert all(target.startswith("edgebert.runtime.") for target in PREDICTORS.values())
