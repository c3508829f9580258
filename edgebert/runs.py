"""Run folders: `runs/<name>/<stage>/`, each written atomically and stamped with the key of its inputs.

A stage writes into a hidden temporary folder beside its final place, then renames it; a stage that fails
leaves no half-written folder and never touches finished stages. A re-run skips a stage whose stamp holds the
same key (a hash of its config and of the keys of the stages it reads). This module knows nothing of ML.

    >>> run = Run(Path("runs/demo"))
    >>> with run.stage("export", key) as out:   # out is a temp dir; renamed to runs/demo/export on success
    ...     write_files(out)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STAMP = "stage.json"
FOLDERS = {"package": "dist"}  # the package stage's output is the deployable folder, runs/<name>/dist


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def stage_key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def write_json(path: Path, payload: object) -> None:
    """Write JSON atomically (temp file + rename), so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a manifest in a dist folder is read by whoever deploys it
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


class Run:
    def __init__(self, root: Path):
        self.root = Path(root)

    def dir(self, stage: str) -> Path:
        return self.root / FOLDERS.get(stage, stage)

    def done(self, stage: str, key: str) -> bool:
        stamp = self.dir(stage) / STAMP
        return stamp.is_file() and read_json(stamp).get("key") == key

    def summary(self, stage: str) -> dict:
        return read_json(self.dir(stage) / STAMP).get("summary", {})

    @contextlib.contextmanager
    def stage(self, stage: str, key: str) -> Iterator[tuple[Path, dict]]:
        """Yield (temp folder, summary dict); on success stamp it and move it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{stage}.tmp-"))
        tmp.chmod(0o755)  # mkdtemp makes it private; the finished folder (dist/ above all) is meant to be shared
        summary: dict = {}
        started = time.perf_counter()
        try:
            yield tmp, summary
            summary.setdefault("seconds", round(time.perf_counter() - started, 1))
            write_json(tmp / STAMP, {"stage": stage, "key": key, "finished": time.time(), "summary": summary})
            final = self.dir(stage)
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                final.rename(old)
                tmp.rename(final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
