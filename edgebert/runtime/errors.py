"""The runtime's one error type (kept apart so every runtime module can raise it without import cycles)."""


class DistError(Exception):
    """A dist folder, model or provider that cannot be used as asked; the message says what to fix."""

    exit_code = 2
