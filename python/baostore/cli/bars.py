"""The rich progress bar of a transfer (imported only when one is drawn: rich costs ~20 ms of
every command's start-up otherwise)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from baostore.sizes import format_rate, format_size


def transfer_bar() -> Progress:
    """A transient bar on stderr showing ``transfer_columns``."""
    return Progress(*transfer_columns(), console=Console(stderr=True), transient=True)


def transfer_columns() -> tuple[ProgressColumn, ...]:
    """What a transfer bar shows: what moves, the bar, bytes done and total, rate, time left."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _BytesColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
    )


class _BytesColumn(ProgressColumn):
    """``12.5 MiB / 1.2 GiB`` (or just the first when the total is unknown)."""

    def render(self, task: Task) -> Text:
        done = format_size(task.completed)
        if task.total is None:
            return Text(done, style="progress.download")
        return Text(f"{done} / {format_size(task.total)}", style="progress.download")


class _RateColumn(ProgressColumn):
    """The recent transfer rate, in the same units as the sizes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else format_rate(speed, 1.0), style="progress.data.speed")
