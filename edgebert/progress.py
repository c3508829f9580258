"""Progress as stages report it to the person running them: progress bars, one-line summaries, warnings.

The library receives a Reporter and never configures output itself; `Reporter()` is silent (for tests and
library users), `RichReporter` draws rich progress bars and is what the CLI passes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Reporter:
    """Silent reporter; subclasses show things. Warnings are kept so reports can list them."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        yield from items

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class RichReporter(Reporter):
    def __init__(self, console=None) -> None:
        super().__init__()
        from rich.console import Console

        self.console = console or Console(stderr=True)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield from progress.track(items, total=total, description=description)

    def info(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        super().warn(message)
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)
