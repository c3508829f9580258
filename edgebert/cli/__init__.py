"""The `edgebert` command: parse arguments, call one library function, print. No logic lives here.

    run.py     compress (a recipe, or --task/--teacher/--train with the task's defaults), init
    use.py     predict, embed, bench: a shipped dist/ folder
    check.py   check: a dist/ folder against a budgets file (CI)
    env.py     env: this machine, its INT8 instructions and ONNX Runtime providers
    web.py     web: a static folder that runs a dist in the browser

Exit codes: 0 success · 1 unexpected bug · 2 bad input (recipe, budgets, data, files, arguments, a run folder
in use) · 3 a gate or budget failed · 4 a stage could not produce a trustworthy result · 5 a latency gate or
budget was inconclusive · 6 the disk filled up while a stage was writing · 130 Ctrl-C · 143 SIGTERM.
Importing this package loads neither torch nor onnxruntime.
"""

from edgebert.cli import check, env, run, use, web  # noqa: F401  (each registers its commands on `main`)
from edgebert.cli.base import main
from edgebert.cli.signals import _interruptible

__all__ = ["_interruptible", "main"]
