"""Progress as stages report it to the person running them: progress bars, one-line summaries, warnings.

The library receives a Reporter and never configures output itself; `Reporter()` is silent (for tests and
library users). The CLI passes `for_console()`: rich progress bars on a terminal, and where stderr is not one (CI,
nohup, a log file) `LineReporter`, which prints a plain line every few seconds instead of bars a log cannot show.
"""

from __future__ import annotations

import time
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

    def note(self, **fields: float) -> None:
        """Figures of the step in progress (a training loss) that a progress line may show."""


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


class LineReporter(RichReporter):
    """For output that is not a terminal: instead of a bar, one plain line every `every_s` seconds while a loop
    runs (step, share done, rate, time left, and the last noted figures such as the loss)."""

    def __init__(self, every_s: float = 30.0, console=None, clock=time.monotonic) -> None:
        super().__init__(console)
        self.every_s, self.clock, self.fields = every_s, clock, {}

    def note(self, **fields: float) -> None:
        self.fields.update(fields)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        self.fields = {}
        start = last = self.clock()
        for done, item in enumerate(items, 1):
            yield item
            now = self.clock()
            if now - last >= self.every_s:
                last = now
                self.console.print(self._line(description, done, total, now - start), highlight=False, markup=False)

    def _line(self, description: str, done: int, total: int | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"  {description}: {done}/{total}" if total else f"  {description}: {done}"]
        if total:
            parts[0] += f" ({done / total:.0%})"
        parts += [f"{k} {v:.4f}" for k, v in self.fields.items()]
        parts.append(f"{rate:.2f}/s")
        if total and rate > 0:
            parts.append(f"{_clock(max(0.0, (total - done) / rate))} left")
        return ", ".join(parts)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def for_console(every_s: float = 30.0) -> RichReporter:
    """Bars on a terminal, plain lines every `every_s` seconds elsewhere (stderr is where both go)."""
    import sys

    return RichReporter() if sys.stderr.isatty() else LineReporter(every_s)
