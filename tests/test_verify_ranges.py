"""Ranges behaves as the set of bytes it names, for any spans."""

from __future__ import annotations

import pytest
from baostore.verify.ranges import Ranges
from hypothesis import given, settings
from hypothesis import strategies as st

EXAMPLES = settings(max_examples=200, deadline=None)
pairs = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), max_size=8)


def bytes_of(pairs: list[tuple[int, int]]) -> set[int]:
    return {offset for start, end in pairs for offset in range(start, end)}


def bytes_in(ranges: Ranges) -> set[int]:
    return bytes_of(list(ranges))


@EXAMPLES
@given(pairs)
def test_of_names_the_same_bytes_in_canonical_form(spans: list[tuple[int, int]]) -> None:
    ranges = Ranges.of(spans)
    assert bytes_in(ranges) == bytes_of(spans)
    assert ranges.total == len(bytes_of(spans))
    assert Ranges.of(ranges) == ranges  # canonical: the same bytes, the same value
    for (_, end), (start, _) in zip(ranges.spans, ranges.spans[1:], strict=False):
        assert end < start  # disjoint and not even adjacent


@EXAMPLES
@given(pairs, pairs)
def test_set_operations(left: list[tuple[int, int]], right: list[tuple[int, int]]) -> None:
    a, b = Ranges.of(left), Ranges.of(right)
    assert bytes_in(a | b) == bytes_of(left) | bytes_of(right)
    assert bytes_in(a & b) == bytes_of(left) & bytes_of(right)
    assert bytes_in(a - b) == bytes_of(left) - bytes_of(right)


@EXAMPLES
@given(pairs, st.integers(0, 100))
def test_shifted_moves_every_byte(spans: list[tuple[int, int]], offset: int) -> None:
    assert bytes_in(Ranges.of(spans).shifted(offset)) == {b + offset for b in bytes_of(spans)}


def test_text_and_json_forms() -> None:
    ranges = Ranges.of([(10, 20), (0, 5), (5, 7)])
    assert ranges.spans == ((0, 7), (10, 20))
    assert str(ranges) == "0:7, 10:20"
    assert str(Ranges()) == "none"
    assert ranges.as_lists() == [[0, 7], [10, 20]]
    assert not Ranges.span(5, 5)


@pytest.mark.parametrize("spans", [((5, 5),), ((0, 4), (4, 8)), ((4, 8), (0, 2))])
def test_a_non_canonical_value_is_refused(spans: tuple[tuple[int, int], ...]) -> None:
    with pytest.raises(ValueError, match="not sorted"):
        Ranges(spans)


def test_negative_offsets_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Ranges.of([(-1, 3)])
