"""Verified reading from an honest source: data, seeks, ranges, cache, inline, resume."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from baostore import bao
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import (
    BAO_FORMATS,
    BaoFormat,
    BlobStore,
    StoreError,
)
from baostore.verify import (
    ChunkSpan,
    ReadOptions,
    VerificationError,
    VerifiedReader,
    fetch_layout,
    layout_from_stat,
    open_verified,
    verified_prefix_length,
)
from baostore.verify.layout import MAX_UNASKED_SHIFT, largest_acceptable_shift

from tests.adversarial.conftest import SMALL_CHUNKS, small_chunk_store

BLOB = os.urandom(3 << 20) + bytes(range(256)) * 999


def all_spans(store: BlobStore, digest: bytes) -> list[ChunkSpan]:
    """The blob's chunks placed, as the (trusted) store lists them."""
    spans, offset = [], 0
    for chunk in store.chunks(digest) or ():
        spans.append(ChunkSpan(chunk.digest, offset, chunk.size))
        offset += chunk.size
    return spans


@pytest.fixture(scope="module")
def source() -> tuple[BlobStore, bytes]:
    store = small_chunk_store()
    return store, store.put(BLOB)


@pytest.mark.parametrize("shift", [0, 2, 4, 6, 8])
@pytest.mark.parametrize("bao_format", BAO_FORMATS)
def test_whole_blob_reads_back(
    source: tuple[BlobStore, bytes], shift: int, bao_format: BaoFormat
) -> None:
    store, digest = source
    reader = open_verified(store, digest, ReadOptions(bao_shift=shift, bao_format=bao_format))
    assert reader is not None
    assert reader.read() == BLOB
    assert reader.read() == b""


def test_missing_blob_is_none(source: tuple[BlobStore, bytes]) -> None:
    store, _ = source
    assert open_verified(store, bao.hash(b"not stored")) is None


def test_seeks_and_small_reads(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    reader = open_verified(store, digest)
    assert reader is not None
    for offset, length in [(0, 10), (5000, 70000), (len(BLOB) - 3, 10), (1 << 20, 1), (17, 1)]:
        assert reader.seek(offset) == offset
        assert reader.read(length) == BLOB[offset : offset + length]
    assert reader.seek(-100, io.SEEK_END) == len(BLOB) - 100
    assert reader.read(50) == BLOB[-100:-50]
    assert reader.seek(10, io.SEEK_CUR) == len(BLOB) - 40
    assert reader.read() == BLOB[-40:]
    reader.seek(len(BLOB) + 10)
    assert reader.read(5) == b""


def test_range_read_fetches_only_covering_chunks(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    layout = fetch_layout(store, digest, ReadOptions())
    spans = all_spans(store, digest)
    assert layout is not None and len(spans) > 4
    group = layout.group_size
    for span in spans[1:5]:
        # A 4 KiB range across a chunk boundary fetches exactly the chunks that overlap the
        # groups holding it: with chunks no smaller than two groups, that is two chunks.
        start, end = span.offset - 2048, span.offset + 2048
        reader = open_verified(store, digest)
        assert reader is not None
        reader.seek(start)
        assert reader.read(end - start) == BLOB[start:end]
        first_group, end_group = start - start % group, -(-end // group) * group
        covering = [s.digest for s in spans if s.offset < end_group and s.end > first_group]
        assert sorted(reader.stats.fetched_digests) == sorted(covering)
        if SMALL_CHUNKS.min >= 2 * group:
            assert len(covering) <= 2


def test_cache_saves_refetching_and_holds_only_verified_chunks(
    source: tuple[BlobStore, bytes],
) -> None:
    store, digest = source
    cache = small_chunk_store()
    first = open_verified(store, digest, cache=cache)
    assert first is not None and first.read() == BLOB
    spans = all_spans(store, digest)
    assert first.stats.chunks_fetched == len(spans)
    second = open_verified(store, digest, cache=cache)
    assert second is not None and second.read() == BLOB
    assert second.stats.chunks_fetched == 0
    assert second.stats.chunks_from_cache == len(spans)
    for span in spans:
        reader = cache.open_read(span.digest)
        assert reader is not None and reader.read() == BLOB[span.offset : span.end]


def test_inline_blob_one_round_trip() -> None:
    store = small_chunk_store()
    data = b"small enough to come inline" * 100
    digest = store.put(data)
    reader = open_verified(store, digest, ReadOptions(inline_limit=1 << 16))
    assert reader is not None and reader.layout.inline is not None
    assert reader.read() == data
    assert reader.stats.chunks_fetched == 0


def test_empty_blob() -> None:
    store = small_chunk_store()
    digest = store.put(b"")
    reader = open_verified(store, digest, ReadOptions(inline_limit=0))
    assert reader is not None and reader.read() == b""


def test_resume_prefix_is_rechecked(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    layout = fetch_layout(store, digest, ReadOptions())
    assert layout is not None
    group = layout.group_size
    good = BLOB[: 10 * group + 123]
    assert verified_prefix_length(layout, io.BytesIO(good)) == 10 * group
    damaged = bytearray(good)
    damaged[4 * group + 7] ^= 1
    assert verified_prefix_length(layout, io.BytesIO(bytes(damaged))) == 4 * group
    assert verified_prefix_length(layout, io.BytesIO(BLOB)) == len(BLOB)


def test_failure_is_sticky(source: tuple[BlobStore, bytes]) -> None:
    from tests.adversarial.faults import Fault, FaultyStore

    store, digest = source
    liar = FaultyStore(store, Fault("flip_read", target=0, position=12345))
    reader = open_verified(liar, digest)
    assert reader is not None
    with pytest.raises(VerificationError):
        reader.read()
    with pytest.raises(VerificationError):
        reader.read(1)


def test_read1_and_readinto_hand_on_what_verified_first(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    reader = open_verified(store, digest)
    assert reader is not None
    copied = bytearray()
    buffer = bytearray(300_000)
    while True:
        piece = reader.read1(1 << 20) if len(copied) % 2 == 0 else None
        if piece is None:
            count = reader.readinto(buffer)
            piece = bytes(buffer[:count])
        if not piece:
            break
        copied += piece
    assert copied == BLOB


class FailingOnce(ForwardingStore):
    """Delegates to ``inner``; the ``fail_at``-th read_raw breaks after its first piece."""

    def __init__(self, inner: BlobStore, fail_at: int) -> None:
        super().__init__(inner)
        self.fail_at = fail_at
        self.reads = 0

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        self.reads += 1
        if pieces is None or self.reads != self.fail_at:
            return pieces

        def breaking() -> Iterator[bytes]:
            yield next(pieces)
            raise StoreError("connection lost")

        return breaking()


def test_a_failed_fetch_is_not_a_verification_error_and_a_retry_continues(
    source: tuple[BlobStore, bytes],
) -> None:
    store, digest = source
    flaky = FailingOnce(store, fail_at=1)  # the Read of the whole blob; then one per chunk
    reader = open_verified(flaky, digest, ReadOptions(parallelism=1))
    assert reader is not None
    got = bytearray()
    with pytest.raises(StoreError) as error:
        while piece := reader.read(50_000):
            got += piece
    assert not isinstance(error.value, VerificationError)
    assert got == BLOB[: len(got)]
    got += reader.read()  # not sticky: the next read starts again at the position
    assert got == BLOB


def test_missing_listed_chunk_is_a_store_error(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    layout = fetch_layout(store, digest, ReadOptions())
    assert layout is not None
    spans = layout.first.spans
    absent = ChunkSpan(b"\x09" * 32, 0, spans[0].size)
    lying = replace(layout, first=replace(layout.first, spans=(absent, *spans[1:])))
    reader = VerifiedReader(store, lying)
    reader.seek(1)  # a read after a seek fetches chunk by chunk
    with pytest.raises(StoreError, match="does not have it") as error:
        reader.read(10)
    assert not isinstance(error.value, VerificationError)


@pytest.mark.parametrize(
    ("asked", "answered", "accepted"), [(4, 6, True), (4, 14, True), (0, 15, False), (4, 30, False)]
)
def test_a_coarser_answered_shift_is_accepted_only_as_far_as_needed(
    source: tuple[BlobStore, bytes], asked: int, answered: int, accepted: bool
) -> None:
    store, digest = source
    stat = store.stat(digest, bao_shift=answered)
    assert stat is not None and stat.bao_shift == answered
    options = ReadOptions(bao_shift=asked)
    if accepted:
        assert layout_from_stat(digest, stat, options).bao_shift == answered
    else:
        with pytest.raises(VerificationError, match=f"answered with shift {answered}"):
            layout_from_stat(digest, stat, options)


def test_a_huge_blob_may_come_at_the_shift_that_fits_the_message() -> None:
    size = 1 << 50  # a PiB: at shift 14 its bao alone would be far over 4 MiB
    assert largest_acceptable_shift(size, 4, "pre_order") > MAX_UNASKED_SHIFT
    assert bao.outboard_size(size, largest_acceptable_shift(size, 4, "pre_order")) < 4 << 20


def test_another_format_than_asked_is_rejected(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    stat = store.stat(digest, bao_format="leaves")
    assert stat is not None
    with pytest.raises(VerificationError, match="asked for a pre_order bao"):
        layout_from_stat(digest, stat, ReadOptions(bao_format="pre_order"))


def test_readahead_stops_at_the_limit(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    reader = open_verified(store, digest, ReadOptions(parallelism=4))
    assert reader is not None
    reader.limit_readahead(4096)
    assert reader.read(4096) == BLOB[:4096]
    assert reader.stats.chunks_fetched == 1  # neither the whole blob nor chunks ahead


def test_a_sequential_read_takes_one_read_and_fills_the_cache_chunk_by_chunk(
    source: tuple[BlobStore, bytes],
) -> None:
    store, digest = source
    cache = small_chunk_store()
    counting = FailingOnce(store, fail_at=0)
    reader = open_verified(counting, digest, cache=cache)
    assert reader is not None and reader.read() == BLOB
    assert counting.reads == 1
    spans = all_spans(store, digest)
    assert reader.stats.chunks_cached == len(spans)
    assert set(cache.record_digests()) | set(cache.chunk_digests()) >= {
        span.digest for span in spans
    }


def test_a_source_without_a_bao_is_refused_clearly(source: tuple[BlobStore, bytes]) -> None:
    store, digest = source
    stat = store.stat(digest, send_bao=False)
    assert stat is not None
    with pytest.raises(VerificationError, match="sent no bao"):
        layout_from_stat(digest, stat, ReadOptions())
