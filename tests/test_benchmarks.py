"""Every script in benchmarks/ imports, and every edgebert name it imports (at the top or inside a function)
exists: a rename in the library must not silently break a measurement script nobody runs in CI."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_imports_and_its_edgebert_names_exist(script):
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # its top level runs; main() does not
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgebert"):
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not _has(module, a.name)]
            assert not missing, f"{script.name}: {node.module} has no {missing}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("edgebert"):
                    importlib.import_module(alias.name)


def _has(module, name: str) -> bool:
    """`name` is an attribute of `module`, or a submodule of the package not imported yet (`from edgebert import
    environment` before anything imported edgebert.environment)."""
    if hasattr(module, name):
        return True
    return hasattr(module, "__path__") and importlib.util.find_spec(f"{module.__name__}.{name}") is not None
