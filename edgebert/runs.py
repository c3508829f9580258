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
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edgebert.errors import DiskFull, RunBusy

STAMP = "stage.json"
LEFTOVERS = (".*.tmp-*", ".*.old-*")  # what an interrupted (SIGKILL, power loss) stage leaves in a run folder
CHECKPOINTS = "checkpoints"  # in a stage's temporary folder: training state a re-run resumes from (kept until done)
LOW_DISK = 16 << 20  # bytes free under which a failure while writing a stage is reported as a full disk
FOLDERS = {"package": "dist"}  # the package stage's output is the deployable folder, runs/<name>/dist


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    # the runtime has its own copy (edgebert.runtime.session): importing it here would load onnxruntime, and the
    # runtime imports nothing from the rest of edgebert
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def stage_key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def write_json(path: Path, payload: object) -> None:
    """Write JSON atomically (temp file + rename), so a reader never sees half a file."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write text atomically (temp file + rename), so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a manifest in a dist folder is read by whoever deploys it
    with os.fdopen(fd, "w") as f:
        f.write(text)
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

    def forget(self, stage: str) -> bool:
        """Unstamp a finished stage (its output stays until a run redoes it); whether it had a stamp."""
        stamp = self.dir(stage) / STAMP
        if not stamp.is_file():
            return False
        stamp.unlink()
        return True

    def summary(self, stage: str) -> dict:
        return read_json(self.dir(stage) / STAMP).get("summary", {})

    def finished(self, stage: str) -> float | None:
        """When the stage last finished (seconds since the epoch), or None if it has no stamp."""
        stamp = self.dir(stage) / STAMP
        return read_json(stamp).get("finished") if stamp.is_file() else None

    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold `runs/.<name>.lock` for the whole run, so two runs never write one run folder: the second is
        refused with a line naming the first's process, or (`wait`) waits for it. POSIX advisory locks (flock);
        where fcntl is missing (Windows) runs are not locked."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        path = self.root.with_name(f".{self.root.name}.lock")
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunBusy(
                    f"run folder {self.root} is in use by {holder}: wait for it to finish, or pass --wait"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(f"edgebert process {os.getpid()} (started {time.strftime('%Y-%m-%d %H:%M:%S')})")
            f.flush()
            try:
                yield
            finally:
                f.truncate(0)

    def sweep(self) -> tuple[int, int]:
        """Remove what an interrupted stage left (hidden temporary folders); call with the lock held.
        Returns (folders removed, bytes freed)."""
        found = [p for pattern in LEFTOVERS for p in self.root.glob(pattern)] if self.root.is_dir() else []
        found = [p for p in found if not (p / CHECKPOINTS).is_dir()]  # resumable: kept for the stage's re-run
        freed = sum(f.stat().st_size for p in found for f in p.rglob("*") if f.is_file())
        for p in found:
            shutil.rmtree(p, ignore_errors=True)
        return len(found), freed

    def temporary(self, stage: str, key: str) -> Path:
        """The stage's temporary folder: named by its key, so a re-run of the same stage finds its checkpoints."""
        return self.root / f".{stage}.tmp-{key[:16]}"

    def checkpoints(self, stage: str, key: str) -> Path:
        return self.temporary(stage, key) / CHECKPOINTS

    @contextlib.contextmanager
    def stage(self, stage: str, key: str) -> Iterator[tuple[Path, dict]]:
        """Yield (temp folder, summary dict); on success stamp it and move it into place. A failed or
        interrupted stage leaves nothing behind but its checkpoints (training state), which a re-run with the
        same key resumes from; the checkpoints go when the stage completes."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.temporary(stage, key)
        for other in self.root.glob(f".{stage}.tmp-*"):
            if other != tmp:
                shutil.rmtree(other, ignore_errors=True)  # another key's checkpoints: not resumable now
        tmp.mkdir(exist_ok=True)
        for leftover in tmp.iterdir():
            if leftover.name != CHECKPOINTS:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        tmp.chmod(0o755)  # the finished folder (dist/ above all) is meant to be shared
        summary: dict = {}
        started = time.perf_counter()
        try:
            yield tmp, summary
            shutil.rmtree(tmp / CHECKPOINTS, ignore_errors=True)
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
        except Exception as e:
            if _disk_full(e, self.root):
                shutil.rmtree(tmp, ignore_errors=True)  # frees what the stage wrote before reporting
                raise DiskFull(
                    f"disk full while writing {self.dir(stage)}: free space on {self.root} and re-run; "
                    "finished stages are kept"
                ) from None
            raise
        finally:
            if tmp.exists() and not (tmp / CHECKPOINTS).is_dir():
                shutil.rmtree(tmp, ignore_errors=True)


def _disk_full(error: BaseException, where: Path) -> bool:
    """ENOSPC anywhere in the exception's chain, or almost no space left where the stage was writing (libraries
    report a full disk in their own words: a protobuf that will not parse, an export that failed)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(where).free < LOW_DISK
    except OSError:
        return False


def recipe_changes(previous: dict, current: dict) -> list[str]:
    """Top-level recipe sections that differ between two recipe dumps (what a reused run folder is told)."""
    return sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
