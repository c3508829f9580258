"""edgebert as users get it: `python -m build` makes a wheel and an sdist (the wheel built from the sdist, so both
carry the package's data files), and the wheel pip-installed into a fresh venv, with only its base dependencies,
predicts with a dist folder while torch is not importable there.

The install reaches the package index (PyPI, or the machine's mirror): where it cannot, the test fails with pip's
message, it never skips. The build and the venv are made once per session, in temporary folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

BIN = "Scripts" if os.name == "nt" else "bin"
# what the subprocesses must not inherit: a path into this checkout, or this test run's virtual environment
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _run(args: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=CLEAN_ENV, capture_output=True, text=True, timeout=timeout
    )


def _one(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, f"{pattern} in {folder}: {found}"
    return found[0]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The folder `python -m build` wrote the wheel and the sdist to."""
    out = tmp_path_factory.mktemp("build")
    result = _run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return out


@pytest.fixture(scope="session")
def installed(built, tmp_path_factory) -> Path:
    """A venv without system site packages with the wheel pip-installed in it (base dependencies only, at the
    versions of constraints.txt); its python."""
    venv = tmp_path_factory.mktemp("venv")
    result = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    assert result.returncode == 0, result.stderr
    python = venv / BIN / ("python.exe" if os.name == "nt" else "python")
    wheel = _one(built, "*.whl")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-compile", "--disable-pip-version-check"]
    result = _run([*pip, "--timeout", "60", "-c", ROOT / "constraints.txt", wheel], cwd=venv)
    assert result.returncode == 0, (
        "pip could not install the wheel and its base dependencies into a fresh venv (is the package index "
        f"reachable?):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
    return python


def test_build_makes_a_wheel_and_an_sdist_with_every_file_of_the_package(built):
    wheel, sdist = _one(built, "edgebert-*.whl"), _one(built, "edgebert-*.tar.gz")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    package = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "edgebert").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and not p.name.startswith(".")
    }
    assert any(not name.endswith(".py") for name in package)  # the templates: the check below checks data too
    missing = sorted(package - shipped)
    assert not missing, f"not in the wheel (add their kind to [tool.setuptools.package-data]): {missing}"
    in_sdist = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    assert package <= in_sdist and "pyproject.toml" in in_sdist


def test_the_wheel_installs_without_torch_and_predicts(installed, compressed, tmp_path):
    folder, _, _ = compressed
    dist = folder / "runs" / "tiny" / "dist"
    where = _run([installed, "-c", "import edgebert, sys; print(edgebert.__file__)"], cwd=tmp_path)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(installed.parents[1]), where
    torch = _run([installed, "-c", "import torch"], cwd=tmp_path)
    assert torch.returncode != 0 and "No module named 'torch'" in torch.stderr, torch

    edgebert = installed.parent / ("edgebert.exe" if os.name == "nt" else "edgebert")
    out = _run([edgebert, "predict", dist, "a wonderful film"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout
    label, score, text = lines[0].split("\t")
    assert label in {"negative", "positive"} and 0.0 <= float(score) <= 1.0 and text == "a wonderful film"
