"""The blob record format: round trip, and strict rejection of anything damaged."""

from __future__ import annotations

import struct

import pytest
from baostore import bao
from baostore.store.interface import ChunkMeta
from baostore.store.record import (
    RECORD_MAGIC,
    BlobRecord,
    RecordError,
    decode_record,
    encode_record,
)
from hypothesis import given, settings
from hypothesis import strategies as st

digests = st.binary(min_size=32, max_size=32)


@st.composite
def records(draw: st.DrawFn) -> BlobRecord:
    shift = draw(st.integers(0, 12))
    sizes = draw(st.lists(st.integers(1, 50_000), max_size=6).filter(lambda s: len(s) != 1))
    size = sum(sizes) if sizes else draw(st.integers(0, 200_000))
    chunks = tuple(ChunkMeta(draw(digests), chunk_size) for chunk_size in sizes)
    bao_size = bao.outboard_size(size, shift, "pre_order")
    outboard = draw(st.binary(min_size=bao_size, max_size=bao_size))
    return BlobRecord(size=size, bao_shift=shift, chunks=chunks, bao=outboard)


@settings(max_examples=60)
@given(records())
def test_round_trip(record: BlobRecord) -> None:
    assert decode_record(encode_record(record)) == record


@settings(max_examples=40)
@given(records(), st.data())
def test_every_truncation_is_rejected(record: BlobRecord, data: st.DataObject) -> None:
    raw = encode_record(record)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(RecordError):
        decode_record(raw[:cut])


@settings(max_examples=60)
@given(records(), st.data())
def test_every_bit_flip_is_rejected(record: BlobRecord, data: st.DataObject) -> None:
    raw = bytearray(encode_record(record))
    position = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[position // 8] ^= 1 << (position % 8)
    with pytest.raises(RecordError):
        decode_record(bytes(raw))


@settings(max_examples=30)
@given(records(), st.binary(min_size=1, max_size=40))
def test_trailing_bytes_are_rejected(record: BlobRecord, extra: bytes) -> None:
    with pytest.raises(RecordError):
        decode_record(encode_record(record) + extra)


@settings(max_examples=60)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_rejected(raw: bytes) -> None:
    with pytest.raises(RecordError):
        decode_record(raw)


def _resealed(body: bytes) -> bytes:
    """A record body with a valid checksum, to reach the checks behind it."""
    return body + bao.hash(body)


def test_wrong_magic_and_version_are_named() -> None:
    header = struct.Struct("<6sBBQI")
    with pytest.raises(RecordError, match="magic"):
        decode_record(_resealed(header.pack(b"NOTREC", 1, 4, 0, 0)))
    with pytest.raises(RecordError, match="version 2"):
        decode_record(_resealed(header.pack(RECORD_MAGIC, 2, 4, 0, 0)))
    with pytest.raises(RecordError, match=r"shift must be in 0\.\.32, got 33"):
        decode_record(_resealed(header.pack(RECORD_MAGIC, 1, 33, 0, 0)))


def test_huge_claimed_counts_are_rejected_without_work() -> None:
    header = struct.Struct("<6sBBQI")
    with pytest.raises(RecordError):
        decode_record(_resealed(header.pack(RECORD_MAGIC, 1, 0, (1 << 64) - 1, (1 << 32) - 1)))


def test_inconsistent_records_are_refused() -> None:
    digest = bytes(32)
    with pytest.raises(RecordError, match="single chunk"):
        BlobRecord(size=5, bao_shift=4, chunks=(ChunkMeta(digest, 5),), bao=b"")
    with pytest.raises(RecordError, match="sum"):
        BlobRecord(
            size=10, bao_shift=4, chunks=(ChunkMeta(digest, 5), ChunkMeta(digest, 6)), bao=b""
        )
    with pytest.raises(RecordError, match="size 0"):
        BlobRecord(
            size=5, bao_shift=4, chunks=(ChunkMeta(digest, 5), ChunkMeta(digest, 0)), bao=b""
        )
    with pytest.raises(RecordError, match="bao"):
        BlobRecord(size=100_000, bao_shift=4, chunks=(), bao=b"")
    with pytest.raises(RecordError, match="digest"):
        BlobRecord(size=10, bao_shift=4, chunks=(ChunkMeta(b"x", 5), ChunkMeta(digest, 5)), bao=b"")
