"""Progress bars for long transfers: rich, on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from baostore.sizes import MiB

# Transfers smaller than this finish too fast for a bar to help.
MIN_SIZE_FOR_BAR = 8 * MiB

Advance = Callable[[int], None]


def bar_wanted(total: int | None, *, enabled: bool = True) -> bool:
    """Whether a transfer of ``total`` bytes (None: unknown) deserves a bar right now."""
    big_enough = total is None or total >= MIN_SIZE_FOR_BAR
    return enabled and big_enough and sys.stderr.isatty()


@contextmanager
def transfer_progress(description: str, total: int | None, *, enabled: bool) -> Iterator[Advance]:
    """Yield ``advance(nbytes)``; it draws a bar on stderr when ``enabled``, else does nothing."""
    if not enabled:
        yield _ignore
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda nbytes: progress.advance(task, nbytes)


def _ignore(nbytes: int) -> None:
    del nbytes
