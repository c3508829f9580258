"""The command group, and the wrapper that turns library errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys

import click

from edgebert import __version__
from edgebert.errors import EdgebertError


def friendly(fn):
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
