"""Put, has, read and the writer, on every kind of store."""

from __future__ import annotations

import io

import pytest
from baostore import bao
from baostore.store.interface import InvalidDigestError

from tests.conformance.blobs import (
    LARGE,
    MEDIUM,
    PAIR,
    PAIR_DIGEST_HEX,
    RANGE_255,
    RANGE_255_DIGEST_HEX,
)
from tests.conformance.conftest import StoreUnderTest

PUBLISHED = [(PAIR, PAIR_DIGEST_HEX), (RANGE_255, RANGE_255_DIGEST_HEX)]
BLOBS = {"empty": b"", "pair": PAIR, "range255": RANGE_255, "medium": MEDIUM, "large": LARGE}


def test_missing_blob_is_absent(subject: StoreUnderTest) -> None:
    digest = bao.hash(b"never stored")
    assert subject.store.has(digest) is False
    assert subject.store.stat(digest) is None
    assert subject.store.open_read(digest) is None
    assert subject.store.chunks(digest) is None


@pytest.mark.parametrize(("data", "digest_hex"), PUBLISHED, ids=["pair", "range255"])
def test_published_digests(subject: StoreUnderTest, data: bytes, digest_hex: str) -> None:
    assert subject.store.put(data).hex() == digest_hex


@pytest.mark.parametrize("name", list(BLOBS))
def test_put_has_read(subject: StoreUnderTest, name: str) -> None:
    data = BLOBS[name]
    digest = subject.store.put(data)
    assert digest == bao.hash(data)
    assert subject.store.has(digest)
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        assert reader.read() == data
        assert reader.read() == b""


def test_put_from_binary_file(subject: StoreUnderTest) -> None:
    digest = subject.store.put(io.BytesIO(LARGE))
    assert digest == bao.hash(LARGE)
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        assert reader.read(-1) == LARGE


def test_readinto_and_small_reads(subject: StoreUnderTest) -> None:
    digest = subject.store.put(MEDIUM)
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        buffer = bytearray(40_000)
        got = bytearray()
        while count := reader.readinto(buffer):
            got += buffer[:count]
        assert bytes(got) == MEDIUM
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        assert b"".join(iter(lambda: reader.read(777), b"")) == MEDIUM


def test_writer_in_pieces(subject: StoreUnderTest) -> None:
    with subject.store.open_write() as writer:
        for start in range(0, len(LARGE), 100_003):
            writer.write(memoryview(LARGE)[start : start + 100_003])
        digest = writer.close()
    assert digest == bao.hash(LARGE)
    reader = subject.store.open_read(digest)
    assert reader is not None
    with reader:
        assert reader.read() == LARGE


def test_aborted_writer_stores_no_blob(subject: StoreUnderTest) -> None:
    writer = subject.store.open_write()
    writer.write(MEDIUM)
    writer.abort()
    assert not subject.store.has(bao.hash(MEDIUM))


def test_put_is_idempotent(subject: StoreUnderTest) -> None:
    first = subject.store.put(LARGE)
    counts = subject.backing.object_counts()
    assert subject.store.put(LARGE) == first
    assert subject.backing.object_counts() == counts


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_bad_digest_is_rejected(subject: StoreUnderTest, length: int) -> None:
    digest = b"\x07" * length
    with pytest.raises(InvalidDigestError):
        subject.store.has(digest)
    with pytest.raises(InvalidDigestError):
        subject.store.stat(digest)
    with pytest.raises(InvalidDigestError):
        subject.store.open_read(digest)
