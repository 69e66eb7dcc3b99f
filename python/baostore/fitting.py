"""The largest count that fits a budget: what cuts a window short so that its answer (a server's)
or its proof (a reader's) stays within a limit."""

from __future__ import annotations

from collections.abc import Callable


def largest(high: int, fits: Callable[[int], bool]) -> int:
    """The largest count in ``1..high`` for which ``fits`` holds (it holds for every smaller
    one), or 0 if it holds for none: a binary search, ``fits`` asked O(log high) times."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
