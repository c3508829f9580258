"""Errors edgebert raises for problems a user can fix, each with the exit code the CLI returns.

Exit codes: 0 success, 1 an unexpected bug (a traceback), 2 bad input (recipe, data, files, arguments),
3 a gate failed, 4 a stage could not produce a trustworthy result (e.g. an export that does not match PyTorch).
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
