"""The scan progress bar: a `ScanProgress` drawn with rich on stderr."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} files/s" if speed else "", style="cyan")


class RichProgress:
    """A ScanProgress drawn with rich on stderr: one bar per stage (discover, analyse, ...)."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_task()
        self.bar.stop()

    def _close_task(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[-1]
            self.bar.update(self.task, total=task.completed)
            self.task = None

    def stage(self, name: str, total: int | None) -> None:
        self._close_task()
        self.task = self.bar.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def detail(self, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, description=text)
