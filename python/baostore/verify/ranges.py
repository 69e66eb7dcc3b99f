"""Byte ranges as a value: sorted, disjoint, non-adjacent ``[start, end)`` pairs.

What a check of a local copy found (verified bytes, damaged ones, bytes past the file's end) and
what a repair still has to fetch are sets of byte ranges; this is their one representation, with
the set operations those jobs need.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Span = tuple[int, int]


@dataclass(frozen=True)
class Ranges:
    """A set of bytes as sorted, disjoint, non-adjacent ``[start, end)`` spans (none empty).

    Build one with ``Ranges.of`` (any pairs: sorted, merged, empty ones dropped) or
    ``Ranges.span``; combine with ``|``, ``&`` and ``-``.
    """

    spans: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        previous_end = -1
        for start, end in self.spans:
            if not previous_end < start < end:
                raise ValueError(f"not sorted, disjoint, non-adjacent and non-empty: {self.spans}")
            previous_end = end

    @classmethod
    def of(cls, pairs: Iterable[Span]) -> Ranges:
        """The bytes of every ``(start, end)`` in ``pairs`` (in any order, overlapping or not)."""
        merged: list[Span] = []
        for start, end in sorted(pair for pair in pairs if pair[0] < pair[1]):
            if start < 0:
                raise ValueError(f"negative offset in range {start}:{end}")
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return cls(tuple(merged))

    @classmethod
    def span(cls, start: int, end: int) -> Ranges:
        """The bytes ``[start, end)`` (nothing when ``end <= start``)."""
        return cls.of([(start, end)])

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    def __len__(self) -> int:
        """How many spans (not bytes: ``total`` counts bytes)."""
        return len(self.spans)

    def __bool__(self) -> bool:
        return bool(self.spans)

    @property
    def total(self) -> int:
        """How many bytes."""
        return sum(end - start for start, end in self.spans)

    def __or__(self, other: Ranges) -> Ranges:
        return Ranges.of([*self.spans, *other.spans])

    def __and__(self, other: Ranges) -> Ranges:
        result: list[Span] = []
        mine, theirs = self.spans, other.spans
        i = j = 0
        while i < len(mine) and j < len(theirs):
            start = max(mine[i][0], theirs[j][0])
            end = min(mine[i][1], theirs[j][1])
            if start < end:
                result.append((start, end))
            if mine[i][1] < theirs[j][1]:
                i += 1
            else:
                j += 1
        return Ranges.of(result)

    def __sub__(self, other: Ranges) -> Ranges:
        result: list[Span] = []
        theirs = other.spans
        j = 0
        for start, end in self.spans:
            position = start
            while j < len(theirs) and theirs[j][1] <= position:
                j += 1
            k = j
            while k < len(theirs) and theirs[k][0] < end:
                if theirs[k][0] > position:
                    result.append((position, theirs[k][0]))
                position = max(position, theirs[k][1])
                k += 1
            if position < end:
                result.append((position, end))
        return Ranges.of(result)

    def shifted(self, offset: int) -> Ranges:
        """These bytes moved by ``offset`` (blob offsets to file offsets and back)."""
        return Ranges(tuple((start + offset, end + offset) for start, end in self.spans))

    def as_lists(self) -> list[list[int]]:
        """``[[start, end], ...]``, for JSON."""
        return [[start, end] for start, end in self.spans]

    def __str__(self) -> str:
        return ", ".join(f"{start}:{end}" for start, end in self.spans) or "none"
