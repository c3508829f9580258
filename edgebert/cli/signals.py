"""Ctrl-C and SIGTERM during a run: one line, the signal's exit code, finished stages kept."""

from __future__ import annotations

import contextlib
import signal
import sys

import click


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
