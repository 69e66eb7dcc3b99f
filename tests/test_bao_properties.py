"""Properties of outboards and the Verifier for any data, shift, format and feed split."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from baostore import bao
from blake3 import blake3
from hypothesis import assume, given, settings
from hypothesis import strategies as st

FORMATS: tuple[bao.BaoFormat, ...] = ("pre_order", "leaves")
MAX_TEST_SHIFT = 5
MAX_TEST_SIZE = 40 * 1024

EXAMPLES = settings(max_examples=60, deadline=None)


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@st.composite
def blob_sizes(draw: st.DrawFn, shift: int) -> int:
    """Any size, with extra weight on group boundaries where off-by-one errors live."""
    group = bao.group_size(shift)
    near_boundary = st.builds(
        lambda groups, delta: max(groups * group + delta, 0),
        st.integers(0, max(MAX_TEST_SIZE // group, 1)),
        st.sampled_from([-1, 0, 1]),
    )
    return draw(st.integers(0, MAX_TEST_SIZE) | near_boundary)


@dataclass(frozen=True)
class Case:
    data: bytes
    shift: int
    format: bao.BaoFormat

    @property
    def group(self) -> int:
        return bao.group_size(self.shift)


@st.composite
def cases(draw: st.DrawFn, min_size: int = 0, min_groups: int = 0) -> Case:
    """Random data of a drawn size and shift, at least ``min_size`` bytes and ``min_groups``
    groups (raised to that rather than filtered, so that no draw is wasted)."""
    shift = draw(st.integers(0, MAX_TEST_SHIFT))
    group = bao.group_size(shift)
    size = max(draw(blob_sizes(shift)), min_size, (min_groups - 1) * group + 1)
    data = random_bytes(draw(st.integers(0, 2**32)), size)
    return Case(data, shift, draw(st.sampled_from(FORMATS)))


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into pieces at random points (empty pieces included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed(verifier: bao.Verifier, pieces: list[bytes]) -> bytes:
    return b"".join(verifier.update(piece) for piece in pieces) + verifier.finalize()


def feed_until_error(verifier: bao.Verifier, pieces: list[bytes]) -> tuple[bytes, bool]:
    """What the verifier released, and whether it raised ``BaoError`` along the way."""
    released = bytearray()
    try:
        for piece in pieces:
            released += verifier.update(piece)
        released += verifier.finalize()
    except bao.BaoError:
        return bytes(released), True
    return bytes(released), False


@EXAMPLES
@given(st.data())
def test_verifier_returns_exactly_the_data(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    root, ob = bao.outboard(case.data, case.shift, case.format)
    pieces = draw.draw(splits(case.data))
    verifier = bao.Verifier(root, len(case.data), ob, case.shift, case.format)
    assert feed(verifier, pieces) == case.data
    assert verifier.received == verifier.released == len(case.data)


@EXAMPLES
@given(st.data())
def test_flipped_data_bit_is_caught_before_release(draw: st.DataObject) -> None:
    case = draw.draw(cases(min_size=1))
    root, ob = bao.outboard(case.data, case.shift, case.format)
    position = draw.draw(st.integers(0, len(case.data) - 1))
    damaged = bytearray(case.data)
    damaged[position] ^= 1 << draw.draw(st.integers(0, 7))
    verifier = bao.Verifier(root, len(case.data), ob, case.shift, case.format)
    released, failed = feed_until_error(verifier, draw.draw(splits(bytes(damaged))))
    assert failed
    assert case.data.startswith(released)
    assert len(released) <= position // case.group * case.group


@EXAMPLES
@given(st.data())
def test_flipped_bao_bit_is_caught_by_the_constructor(draw: st.DataObject) -> None:
    case = draw.draw(cases(min_groups=2))
    root, ob = bao.outboard(case.data, case.shift, case.format)
    position = draw.draw(st.integers(0, len(ob) - 1))
    damaged = bytearray(ob)
    damaged[position] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(bao.BaoError):
        bao.Verifier(root, len(case.data), damaged, case.shift, case.format)


@EXAMPLES
@given(st.data())
def test_flipped_root_bit_is_caught(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    root, ob = bao.outboard(case.data, case.shift, case.format)
    damaged = bytearray(root)
    damaged[draw.draw(st.integers(0, 31))] ^= 1 << draw.draw(st.integers(0, 7))
    try:
        verifier = bao.Verifier(damaged, len(case.data), ob, case.shift, case.format)
    except bao.BaoError:
        return
    released, failed = feed_until_error(verifier, [case.data])
    assert failed
    assert released == b""  # a single-group blob: nothing is checked before its end


@EXAMPLES
@given(st.data())
def test_truncated_and_extended_streams_raise(draw: st.DataObject) -> None:
    case = draw.draw(cases(min_size=1))
    root, ob = bao.outboard(case.data, case.shift, case.format)
    cut = draw.draw(st.integers(1, len(case.data)))
    truncated = bao.Verifier(root, len(case.data), ob, case.shift, case.format)
    released, failed = feed_until_error(truncated, draw.draw(splits(case.data[:-cut])))
    assert failed
    assert case.data.startswith(released)
    assert len(released) < len(case.data)

    extra = draw.draw(st.binary(min_size=1, max_size=100))
    extended = bao.Verifier(root, len(case.data), ob, case.shift, case.format)
    released, failed = feed_until_error(extended, draw.draw(splits(case.data + extra)))
    assert failed
    assert case.data.startswith(released)


@EXAMPLES
@given(st.data())
def test_a_lie_about_the_size_is_caught(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    root, ob = bao.outboard(case.data, case.shift, case.format)
    claimed = draw.draw(st.integers(0, MAX_TEST_SIZE + 2 * case.group))
    assume(claimed != len(case.data))
    try:
        verifier = bao.Verifier(root, claimed, ob, case.shift, case.format)
    except bao.BaoError:
        return
    padded = (case.data + bytes(claimed))[:claimed]  # feed as much as was claimed
    released, failed = feed_until_error(verifier, draw.draw(splits(padded)))
    assert failed
    assert case.data.startswith(released)


@EXAMPLES
@given(st.data())
def test_both_formats_have_the_blake3_root(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    expected = blake3(case.data).digest()
    assert bao.hash(case.data) == expected
    for bao_format in FORMATS:
        root, ob = bao.outboard(case.data, case.shift, bao_format)
        assert root == expected
        assert len(ob) == bao.outboard_size(len(case.data), case.shift, bao_format)
    groups = max(-(-len(case.data) // case.group), 1)
    assert bao.outboard_size(len(case.data), case.shift, "pre_order") == (groups - 1) * 64
    assert bao.outboard_size(len(case.data), case.shift, "leaves") == (groups > 1) * groups * 32


@EXAMPLES
@given(st.data())
def test_builder_fed_any_pieces_equals_outboard(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    builder = bao.OutboardBuilder(case.shift, case.format)
    for piece in draw.draw(splits(case.data)):
        builder.update(piece)
    assert builder.size == len(case.data)
    assert builder.finalize() == bao.outboard(case.data, case.shift, case.format)


@EXAMPLES
@given(st.data())
def test_hasher_fed_any_pieces_equals_blake3(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    hasher = bao.Hasher()
    for piece in draw.draw(splits(case.data)):
        hasher.update(piece)
        assert hasher.size <= len(case.data)
    assert hasher.size == len(case.data)
    assert hasher.digest() == blake3(case.data).digest() == bao.hash(case.data)


@EXAMPLES
@given(st.data())
def test_coarsen_equals_outboard_at_the_coarser_shift(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    coarser = draw.draw(st.integers(case.shift, MAX_TEST_SHIFT + 2))
    _, fine = bao.outboard(case.data, case.shift, case.format)
    _, expected = bao.outboard(case.data, coarser, case.format)
    assert bao.coarsen(fine, len(case.data), case.shift, coarser, case.format) == expected


def test_coarsen_to_a_finer_shift_is_an_error() -> None:
    data = random_bytes(1, 10_000)
    _, ob = bao.outboard(data, 2)
    with pytest.raises(ValueError, match="to_shift"):
        bao.coarsen(ob, len(data), 2, 1)


@EXAMPLES
@given(st.data())
def test_convert_format_round_trips(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    size = len(case.data)
    _, pre_order = bao.outboard(case.data, case.shift, "pre_order")
    _, leaves = bao.outboard(case.data, case.shift, "leaves")
    assert bao.convert_format(pre_order, size, case.shift, "pre_order", "leaves") == leaves
    assert bao.convert_format(leaves, size, case.shift, "leaves", "pre_order") == pre_order
    assert bao.convert_format(leaves, size, case.shift, "leaves", "leaves") == leaves


@st.composite
def windows(draw: st.DrawFn, case: Case, non_empty: bool = False) -> tuple[int, int]:
    """A group-aligned window ``[start, end)`` of the blob (``end`` may be its size)."""
    size = len(case.data)
    # Starts must be aligned, even at the very end; a non-empty window starts before it.
    start = draw(st.sampled_from(range(0, size if non_empty else size + 1, case.group)))
    ends = [*range(start + case.group, size, case.group), size]
    end = draw(st.sampled_from(ends if non_empty else [start, *ends]))
    return start, end


@EXAMPLES
@given(st.data())
def test_windows_verify(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    root, ob = bao.outboard(case.data, case.shift, case.format)
    start, end = draw.draw(windows(case))
    window = case.data[start:end]
    verifier = bao.Verifier(root, len(case.data), ob, case.shift, case.format, start, end)
    assert feed(verifier, draw.draw(splits(window))) == window


@EXAMPLES
@given(st.data())
def test_windows_fail_when_fed_other_bytes(draw: st.DataObject) -> None:
    case = draw.draw(cases(min_size=1))
    root, ob = bao.outboard(case.data, case.shift, case.format)
    start, end = draw.draw(windows(case, non_empty=True))
    position = draw.draw(st.integers(start, end - 1))
    damaged = bytearray(case.data[start:end])
    damaged[position - start] ^= 1 << draw.draw(st.integers(0, 7))
    verifier = bao.Verifier(root, len(case.data), ob, case.shift, case.format, start, end)
    released, failed = feed_until_error(verifier, draw.draw(splits(bytes(damaged))))
    assert failed
    assert case.data[start:end].startswith(released)
    assert start + len(released) <= position // case.group * case.group


@EXAMPLES
@given(st.data())
def test_window_from_another_offset_fails(draw: st.DataObject) -> None:
    """The right number of bytes, but from elsewhere in the blob (a classic server bug)."""
    case = draw.draw(cases(min_size=2))
    root, ob = bao.outboard(case.data, case.shift, case.format)
    start, end = draw.draw(windows(case, non_empty=True))
    shift_by = draw.draw(st.integers(1, len(case.data) - 1))
    other = (case.data * 2)[start + shift_by : end + shift_by]  # a rotation: other bytes
    assume(other != case.data[start:end])  # random data is never periodic; just in case
    verifier = bao.Verifier(root, len(case.data), ob, case.shift, case.format, start, end)
    _, failed = feed_until_error(verifier, [other])
    assert failed


@pytest.mark.parametrize("shift", [0, 4, 10])
@pytest.mark.parametrize("bao_format", FORMATS)
def test_two_threads_give_the_same_outboard(shift: int, bao_format: bao.BaoFormat) -> None:
    for size in (0, 1, bao.group_size(shift) * 3 + 5, 3 * 1024 * 1024 + 17):
        data = random_bytes(size, size)
        one = bao.outboard(data, shift, bao_format, threads=1)
        assert bao.outboard(data, shift, bao_format, threads=2) == one
        assert bao.outboard(data, shift, bao_format, threads=3) == one


@EXAMPLES
@given(st.data())
def test_two_threads_on_any_case(draw: st.DataObject) -> None:
    case = draw.draw(cases())
    one = bao.outboard(case.data, case.shift, case.format)
    assert bao.outboard(case.data, case.shift, case.format, threads=2) == one


CDC_MIN, CDC_AVG, CDC_MAX = 256, 1024, 4096


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(0, 60_000), data=st.data())
def test_cdc_lengths_sum_respect_limits_and_resume(
    seed: int, size: int, data: st.DataObject
) -> None:
    blob = random_bytes(seed, size)
    lengths = bao.cdc_cut_lengths(blob, CDC_MIN, CDC_AVG, CDC_MAX, True)
    assert sum(lengths) == size
    assert all(0 < length <= CDC_MAX for length in lengths)
    assert all(length >= CDC_MIN for length in lengths[:-1])

    # Fed incrementally (the caller keeps what was not cut yet), the cuts are the same.
    incremental: list[int] = []
    pending = b""
    for piece in data.draw(splits(blob)):
        pending += piece
        cut = bao.cdc_cut_lengths(pending, CDC_MIN, CDC_AVG, CDC_MAX, False)
        incremental += cut
        pending = pending[sum(cut) :]
    incremental += bao.cdc_cut_lengths(pending, CDC_MIN, CDC_AVG, CDC_MAX, True)
    assert incremental == lengths


def test_cdc_of_nothing_is_nothing() -> None:
    assert bao.cdc_cut_lengths(b"", CDC_MIN, CDC_AVG, CDC_MAX, True) == []
    assert bao.cdc_cut_lengths(b"", CDC_MIN, CDC_AVG, CDC_MAX, False) == []
