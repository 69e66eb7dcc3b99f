"""Seeking and reading anywhere in a blob, checked against io.BytesIO over the same bytes."""

from __future__ import annotations

import io

import pytest
from baostore.store.interface import BlobReader

from tests.conformance.blobs import LARGE, LARGE_SIZE
from tests.conformance.conftest import StoreUnderTest

# (whence, offset, bytes to read afterwards): start, current, end, past the end, and reads that
# cross chunk boundaries (the suite's chunks are at most 256 KiB).
SEEK_TABLE = [
    (io.SEEK_SET, 0, 10),
    (io.SEEK_SET, 12_345, 300_000),
    (io.SEEK_CUR, 0, 1),
    (io.SEEK_CUR, 100, 50),
    (io.SEEK_CUR, -151, 151),
    (io.SEEK_END, 0, 10),
    (io.SEEK_END, -10, 100),
    (io.SEEK_END, -LARGE_SIZE, 5),
    (io.SEEK_SET, LARGE_SIZE - 1, 10),
    (io.SEEK_SET, LARGE_SIZE, 10),
    (io.SEEK_SET, LARGE_SIZE + 1000, 10),
    (io.SEEK_END, 5000, 10),
    (io.SEEK_SET, 1 << 20, 1 << 20),
    (io.SEEK_CUR, -(1 << 19), -1),
    (io.SEEK_SET, 0, -1),
]


def _open(subject: StoreUnderTest) -> BlobReader:
    digest = subject.store.put(LARGE)
    reader = subject.store.open_read(digest)
    assert reader is not None
    return reader


def test_seek_table(subject: StoreUnderTest) -> None:
    oracle = io.BytesIO(LARGE)
    with _open(subject) as reader:
        assert reader.seekable()
        for whence, offset, count in SEEK_TABLE:
            expected_position = oracle.seek(offset, whence)
            assert reader.seek(offset, whence) == expected_position, (whence, offset)
            assert reader.tell() == expected_position
            assert reader.read(count) == oracle.read(count), (whence, offset, count)
            assert reader.tell() == oracle.tell()


def test_every_chunk_boundary(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    chunks = subject.backing.chunks(digest)
    assert chunks is not None and len(chunks) > 1
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        boundary = 0
        for chunk in chunks[:-1]:
            boundary += chunk.size
            reader.seek(boundary - 3)
            assert reader.read(6) == LARGE[boundary - 3 : boundary + 3]


def test_negative_seek_is_an_error(subject: StoreUnderTest) -> None:
    with _open(subject) as reader:
        with pytest.raises((ValueError, OSError)):
            reader.seek(-1)
        with pytest.raises((ValueError, OSError)):
            reader.seek(-LARGE_SIZE - 1, io.SEEK_END)
