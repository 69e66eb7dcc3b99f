"""How slow a stream may be: an idle timeout and a minimum transfer rate, on both ends.

An idle timeout alone is defeated by a drip: a peer sending one byte every two seconds is never
idle, yet 100 KB take days, and two such Puts hold a server's Put slots forever. So a stream
also needs ``min_bytes`` in every ``window`` seconds it waits for its peer: data to arrive (a
receiver) or to be taken (a sender). Only time spent waiting for the peer counts: a receiver busy
storing what it got, or a sender whose own source is slow, does not make the peer slow.

``StreamMeter`` keeps that account for one stream and says when the stream has stalled;
``MinimumRate`` is the setting (``64KiB/60s`` on the command line and in config files).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from baostore.durations import parse_duration
from baostore.sizes import KiB, format_size, parse_size

# A year: the longest time limit anywhere. Far longer timeouts overflow gRPC's deadline: with
# 1e12 s or inf every call fails at once as timed out.
MAX_SECONDS = 365 * 24 * 3600
_RATE = re.compile(r"^\s*([^/]+?)\s*/\s*([^/]+?)\s*$")


@dataclass(frozen=True)
class MinimumRate:
    """At least ``min_bytes`` in every ``window`` seconds of waiting; 0 bytes: no minimum."""

    min_bytes: int
    window: float

    def __post_init__(self) -> None:
        if self.min_bytes < 0:
            raise ValueError(f"a minimum rate needs min_bytes >= 0, got {self.min_bytes}")
        if not (math.isfinite(self.window) and 0 < self.window <= MAX_SECONDS):
            raise ValueError(
                f"a minimum rate's window must be in (0, {MAX_SECONDS:g}] seconds, "
                f"got {self.window}"
            )

    @classmethod
    def parse(cls, text: str) -> MinimumRate:
        """``SIZE/DURATION`` (``64KiB/60s``, ``1MB/10``, ``1MiB/2m``): sizes and durations take
        units as everywhere."""
        match = _RATE.match(text)
        if match is None:
            raise ValueError(
                f"not a rate: {text!r}: use SIZE/SECONDS, for example 64KiB/60s (at least 64 KiB "
                "in every 60 seconds of waiting; 0/60s: no minimum)"
            )
        try:
            return cls(parse_size(match.group(1)), parse_duration(match.group(2)))
        except ValueError as error:
            raise ValueError(f"not a rate: {text!r}: {error}") from None

    def __str__(self) -> str:
        return f"{format_size(self.min_bytes)} per {self.window:g} s"


# About 1 KiB/s. A window as long as the idle timeout of its end: silence is judged by both alike.
DEFAULT_CLIENT_MIN_RATE = MinimumRate(64 * KiB, 60.0)
DEFAULT_SERVER_MIN_RATE = MinimumRate(128 * KiB, 120.0)


class StreamMeter:
    """The account of one stream: time spent waiting for the peer, and what moved meanwhile.

    Call ``wait_started`` when the stream starts waiting for its peer (again: a wait that is
    running goes on, so messages without data do not end it) and ``wait_ended`` when data moved.
    The stream has stalled when one wait lasts ``idle_timeout`` seconds, or when a window of
    ``rate.window`` seconds of waiting brought fewer than ``rate.min_bytes`` bytes. Times are
    the caller's clock (``time.monotonic``, an event loop's ``time``). Not thread-safe.
    """

    def __init__(self, idle_timeout: float, rate: MinimumRate) -> None:
        self.idle_timeout = idle_timeout
        self.rate = rate
        self._wait_start: float | None = None
        self._window_waited = 0.0
        self._window_moved = 0

    def wait_started(self, now: float) -> None:
        if self._wait_start is None:
            self._wait_start = now

    def wait_ended(self, now: float, moved: int) -> str | None:
        """``moved`` bytes ended the wait; why the stream stalled before they came, or None."""
        stalled = self.stall(now)
        if self._wait_start is not None:
            self._window_waited += now - self._wait_start
            self._wait_start = None
        if stalled is None and self._window_waited >= self.rate.window:
            self._window_waited = 0.0  # the window brought enough: a new one starts
            self._window_moved = 0
        self._window_moved += moved
        return stalled

    def stall(self, now: float) -> str | None:
        """Why the stream has stalled by ``now`` (``"idle: ..."``, ``"too slow: ..."``), or None."""
        waiting = 0.0 if self._wait_start is None else now - self._wait_start
        if waiting >= self.idle_timeout:
            return f"idle: no data for {self.idle_timeout:g} s"
        rate = self.rate
        if self._window_moved < rate.min_bytes and self._window_waited + waiting >= rate.window:
            return (
                f"too slow: {self._window_moved} bytes in {rate.window:g} s of waiting, "
                f"below the minimum of {rate}"
            )
        return None

    def deadline(self) -> float:
        """When ``stall`` turns true if nothing moves: during a wait, on the caller's clock."""
        if self._wait_start is None:
            raise RuntimeError("a stream meter has a deadline only while waiting")
        deadline = self._wait_start + self.idle_timeout
        if self._window_moved < self.rate.min_bytes:
            remaining = max(0.0, self.rate.window - self._window_waited)
            deadline = min(deadline, self._wait_start + remaining)
        return deadline

    @property
    def poll_interval(self) -> float:
        """How often a watchdog should ask ``stall``: a fraction of the shortest limit."""
        return min(self.idle_timeout, self.rate.window) / 4
