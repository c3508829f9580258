"""Errors edgebert raises for problems a user can fix, each with the exit code the CLI returns.

Exit codes: 0 success, 1 an unexpected bug (a traceback), 2 bad input (recipe, data, files, arguments, a run
folder in use), 3 a gate failed, 4 a stage could not produce a trustworthy result (e.g. an export that does not
match PyTorch), 5 a latency gate or budget was inconclusive, 6 the disk filled up while a stage was writing,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""


class EdgebertError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = 1


class RecipeError(EdgebertError):
    exit_code = 2


class DataError(EdgebertError):
    exit_code = 2


class ModelError(EdgebertError):
    """A model or dist folder that cannot be loaded as asked (missing file, tampered hash, wrong head)."""

    exit_code = 2


class StageError(EdgebertError):
    exit_code = 4


class ExportError(StageError):
    pass


class GateFailed(EdgebertError):
    exit_code = 3


class RunBusy(EdgebertError):
    """Another edgebert process holds the run folder."""

    exit_code = 2


class DiskFull(EdgebertError):
    """The disk filled up while a stage was writing; finished stages are kept."""

    exit_code = 6
