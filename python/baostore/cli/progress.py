"""Progress of long transfers: rich bars on stderr (only on a terminal; ``bars.py``, loaded only
then), and the meter every transfer counts its bytes into, which the one-line summary after a put
or get reads.

Every size shown is in binary units written by ``baostore.sizes.format_size`` (KiB, MiB/s), in
bars and summaries alike.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from baostore.sizes import MiB, format_rate, format_size

# Transfers smaller than this finish too fast for a bar to help.
MIN_SIZE_FOR_BAR = 8 * MiB

Advance = Callable[[int], None]


@dataclass
class Meter:
    """Bytes a command moved and since when: what its summary line reports."""

    transferred: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


# The meter of the command running in this context (None: nobody reads the counts).
_current_meter: ContextVar[Meter | None] = ContextVar("baostore_transfer_meter", default=None)


@contextmanager
def metered() -> Iterator[Meter]:
    """A fresh meter that every ``transfer_progress`` inside the block counts into."""
    meter = Meter()
    token = _current_meter.set(meter)
    try:
        yield meter
    finally:
        _current_meter.reset(token)


def bar_wanted(total: int | None, *, enabled: bool = True) -> bool:
    """Whether a transfer of ``total`` bytes (None: unknown) deserves a bar right now."""
    big_enough = total is None or total >= MIN_SIZE_FOR_BAR
    return enabled and big_enough and sys.stderr.isatty()


@contextmanager
def transfer_progress(description: str, total: int | None, *, enabled: bool) -> Iterator[Advance]:
    """Yield ``advance(nbytes)``: it counts into the current meter (see ``metered``) and draws a
    bar on stderr when ``enabled``."""
    meter = _current_meter.get() or Meter()
    if not enabled:

        def count(nbytes: int) -> None:
            meter.transferred += nbytes

        yield count
        return
    from baostore.cli.bars import transfer_bar  # rich loads only when a bar is drawn

    with transfer_bar() as progress:
        task = progress.add_task(description, total=total)

        def advance(nbytes: int) -> None:
            meter.transferred += nbytes
            progress.advance(task, nbytes)

        yield advance


def format_duration(seconds: float) -> str:
    """``0.0213 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds < 59.5:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def summary(what: str, meter: Meter, digest_hex: str) -> str:
    """The line a put or get ends with: ``what`` (``put photo.jpg``), size, time, rate, digest."""
    seconds = meter.seconds
    return (
        f"baostore: {what}: {format_size(meter.transferred)} in {format_duration(seconds)} "
        f"({format_rate(meter.transferred, seconds)}), blob {digest_hex}"
    )
