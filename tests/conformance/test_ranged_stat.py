"""Ranged Stat on every store: the window answered for a byte range, its proof checked against
the digest, the chunks that cover it, and the ranges that are refused."""

from __future__ import annotations

import pytest
from baostore import bao
from baostore.store.interface import BAO_FORMATS, BaoFormat, ByteRange, Stat

from tests.conformance.blobs import LARGE, LARGE_SIZE, MEDIUM
from tests.conformance.conftest import TEST_CHUNK_SIZES, StoreUnderTest

RANGES = [
    ByteRange(0, 1),
    ByteRange(LARGE_SIZE // 2, LARGE_SIZE // 2 + 4096),
    ByteRange(LARGE_SIZE - 1),
    ByteRange(12_345, 2 << 20),
    ByteRange(0),
    ByteRange(1000, 1 << 40),  # an end past the blob's end means its end
]


def check_window(digest: bytes, data: bytes, stat: Stat, asked: ByteRange, shift: int) -> None:
    """The answer is a window of ``asked`` whose proof verifies exactly the window's bytes."""
    assert stat.window is not None and stat.bao_shift == shift
    start, end = stat.window
    group = bao.group_size(shift)
    assert start == asked.start - asked.start % group
    asked_end = len(data) if asked.end is None else min(asked.end, len(data))
    assert start < end <= min(-(-asked_end // group) * group, len(data))
    verifier = bao.Verifier.from_proof(
        digest, len(data), stat.bao, shift=shift, format=stat.bao_format, start=start, end=end
    )
    assert verifier.update(data[start:end]) + verifier.finalize() == data[start:end]
    # A blob of several chunks is answered with the chunks that cover the window (a blob of one
    # chunk has no chunk list).
    assert stat.chunks or len(data) <= TEST_CHUNK_SIZES.max
    if stat.chunks:
        covered = sum(chunk.size for chunk in stat.chunks)
        assert stat.chunks_offset <= start and stat.chunks_offset + covered >= end
        offset = stat.chunks_offset
        for chunk in stat.chunks:
            assert bao.hash(data[offset : offset + chunk.size]) == chunk.digest
            offset += chunk.size


@pytest.mark.parametrize("bao_format", BAO_FORMATS)
@pytest.mark.parametrize("shift", [0, 2, 4, 7])
def test_a_range_is_answered_with_its_window(
    subject: StoreUnderTest, shift: int, bao_format: BaoFormat
) -> None:
    digest = subject.store.put(LARGE)
    for asked in RANGES:
        stat = subject.store.stat(digest, bao_shift=shift, bao_format=bao_format, range=asked)
        assert stat is not None and stat.size == LARGE_SIZE
        check_window(digest, LARGE, stat, asked, shift)


def test_a_single_group_blob_has_an_empty_proof(subject: StoreUnderTest) -> None:
    digest = subject.store.put(MEDIUM)
    stat = subject.store.stat(digest, bao_shift=7, range=ByteRange(5, 10))
    assert stat is not None and stat.window == (0, len(MEDIUM)) and stat.bao == b""
    check_window(digest, MEDIUM, stat, ByteRange(5, 10), 7)


def test_the_empty_blob_has_the_empty_window(subject: StoreUnderTest) -> None:
    digest = subject.store.put(b"")
    stat = subject.store.stat(digest, range=ByteRange(0, 1))
    assert stat is not None and stat.size == 0 and stat.window == (0, 0) and stat.bao == b""


def test_without_a_range_the_whole_blob_is_answered(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    stat = subject.store.stat(digest, bao_shift=4)
    assert stat is not None and stat.window is None
    assert stat.bao == bao.outboard(LARGE, 4)[1]


@pytest.mark.parametrize(
    "asked",
    [
        ByteRange(LARGE_SIZE),
        ByteRange(LARGE_SIZE + 1, LARGE_SIZE + 2),
        ByteRange((1 << 64) - 1),
        ByteRange(10, 10),
        ByteRange(10, 5),
        ByteRange(1 << 64),
        ByteRange(-1, 5),
    ],
    ids=["at the end", "past the end", "absurd", "empty", "reversed", "beyond uint64", "negative"],
)
def test_bad_ranges_are_refused(subject: StoreUnderTest, asked: ByteRange) -> None:
    digest = subject.store.put(LARGE)
    with pytest.raises(ValueError, match="range"):
        subject.store.stat(digest, range=asked)
