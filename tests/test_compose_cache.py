"""CacheStore: near hits, verified read-through from far that fills near, near write failures."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator

import pytest
from baostore import bao
from baostore.compose.cache import CacheStore, FillingReader
from baostore.compose.substituters import SubstitutersStore
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import (
    BlobReader,
    BlobStore,
    BlobWriter,
    Stat,
    StatRequest,
    StoreError,
    VerifiedBlobReader,
    VerifiedOpener,
)
from baostore.store.objects import memory_backend
from baostore.verify import VerificationError
from typing_extensions import Buffer

from tests.adversarial.faults import Fault, FaultyStore
from tests.support.grpc_server import serve_in_thread

FAR_CHUNKS = ChunkSizes(min=16 << 10, avg=32 << 10, max=64 << 10)
NEAR_CHUNKS = ChunkSizes(min=32 << 10, avg=128 << 10, max=256 << 10)
BLOB = random.Random(77).randbytes(1_200_000)
DIGEST = bao.hash(BLOB)


def far_store(*blobs: bytes) -> ChunkedStore:
    store = ChunkedStore(memory_backend(), chunk_sizes=FAR_CHUNKS)
    for blob in blobs:
        store.put(blob)
    return store


def near_store() -> ChunkedStore:
    return ChunkedStore(memory_backend(), chunk_sizes=NEAR_CHUNKS)


class Counting(BlobStore):
    """Delegates to ``inner``; counts the calls that reach it."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def has(self, digest: bytes) -> bool:
        self.calls.append("has")
        return self.inner.has(digest)

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        self.calls.append("stat")
        return self.inner.stat_request(digest, request)

    def open_read(self, digest: bytes) -> BlobReader | None:
        self.calls.append("open_read")
        return self.inner.open_read(digest)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        self.calls.append("read_raw")
        return self.inner.read_raw(digest)

    def open_write(self) -> BlobWriter:
        self.calls.append("open_write")
        return self.inner.open_write()


class FailingWriter(BlobWriter):
    def __init__(self, inner: BlobWriter, budget: int) -> None:
        self.inner = inner
        self.budget = budget

    def write(self, data: Buffer) -> int:
        size = memoryview(data).nbytes
        self.budget -= size
        if self.budget < 0:
            raise StoreError("disk full")
        return self.inner.write(data)

    def close(self) -> bytes:
        return self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


class NoRoom(Counting):
    """A near store whose writers fail once ``budget`` bytes were written."""

    def __init__(self, inner: BlobStore, budget: int = 0) -> None:
        super().__init__(inner)
        self.budget = budget

    def open_write(self) -> BlobWriter:
        if self.budget == 0:
            raise StoreError("read-only file system")
        return FailingWriter(self.inner.open_write(), self.budget)


def read_all(reader: BlobReader, piece: int = 100_000) -> bytes:
    return b"".join(iter(lambda: reader.read(piece), b""))


def open_through(tier: CacheStore, digest: bytes = DIGEST) -> BlobReader:
    reader = tier.open_read(digest)
    assert reader is not None
    return reader


# -- read-through and fill ----------------------------------------------------------------


def test_miss_reads_far_verified_and_fills_near() -> None:
    far, near = Counting(far_store(BLOB)), near_store()
    tier = CacheStore(near, far)
    assert tier.has(DIGEST) and not near.has(DIGEST)
    with open_through(tier) as reader:
        assert isinstance(reader, FillingReader)
        assert read_all(reader) == BLOB
        assert reader.complete
    assert tier.fills == 1 and near.has(DIGEST)
    # Near recorded the blob itself: its own chunking, a bao that verifies.
    near_chunks, far_chunks = near.chunks(DIGEST), far.inner.chunks(DIGEST)
    assert near_chunks and far_chunks and near_chunks != far_chunks
    stat = near.stat(DIGEST, bao_shift=4)
    assert stat is not None
    verifier = bao.Verifier(DIGEST, stat.size, stat.bao, shift=4)
    assert verifier.update(BLOB) + verifier.finalize() == BLOB

    far.calls.clear()
    with open_through(tier) as reader:
        assert read_all(reader) == BLOB
    assert far.calls == [], "a near hit must not touch far"


def test_chunks_near_already_holds_are_not_fetched() -> None:
    other = BLOB[:400_000] + random.Random(3).randbytes(300_000)
    far = far_store(BLOB, other)
    tier = CacheStore(near_store(), far)
    with open_through(tier) as reader:
        read_all(reader)
    with open_through(tier, bao.hash(other)) as reader:
        assert isinstance(reader, FillingReader)
        assert read_all(reader) == other
        stats = reader.verified.stats
    assert stats.chunks_from_cache > 0
    chunks = far.chunks(bao.hash(other))
    assert chunks is not None and stats.chunks_fetched < len(chunks)


def test_partial_read_keeps_verified_chunks_but_no_record() -> None:
    far, near = far_store(BLOB), near_store()
    tier = CacheStore(near, far)
    with open_through(tier) as reader:
        assert reader.read(300_000) == BLOB[:300_000]
    assert not near.has(DIGEST) and tier.fills == 0
    chunks = far.chunks(DIGEST)
    assert chunks is not None and near.has(chunks[0].digest)
    with open_through(tier) as reader:
        assert read_all(reader) == BLOB
        assert isinstance(reader, FillingReader) and reader.verified.stats.chunks_from_cache > 0
    assert near.has(DIGEST) and tier.fills == 1


def test_skipping_ahead_fills_only_when_the_reader_comes_back() -> None:
    near = near_store()
    tier = CacheStore(near, far_store(BLOB))
    with open_through(tier) as reader:
        reader.seek(600_000)
        assert reader.read() == BLOB[600_000:]
        assert not near.has(DIGEST)
        reader.seek(0)
        assert read_all(reader, 77_777) == BLOB
    assert near.has(DIGEST) and tier.fills == 1


def test_rereading_the_start_writes_nothing_twice() -> None:
    near = near_store()
    tier = CacheStore(near, far_store(BLOB))
    with open_through(tier) as reader:
        head = reader.read(500_000)
        reader.seek(100_000)
        middle = reader.read(600_000)
        rest = reader.read()
    assert head + middle[400_000:] + rest == BLOB
    assert near.has(DIGEST) and tier.fills == 1


def test_raw_reads_fill_too() -> None:
    near = near_store()
    tier = CacheStore(near, far_store(BLOB))
    pieces = tier.read_raw(DIGEST)
    assert pieces is not None and b"".join(pieces) == BLOB
    assert near.has(DIGEST)
    assert tier.read_raw(bao.hash(b"absent")) is None


def test_empty_blob_is_recorded_at_once() -> None:
    near = near_store()
    tier = CacheStore(near, far_store(b""))
    with open_through(tier, bao.hash(b"")) as reader:
        assert reader.read() == b""
    assert near.has(bao.hash(b""))


def test_absent_everywhere() -> None:
    tier = CacheStore(near_store(), far_store())
    missing = bao.hash(b"absent")
    assert not tier.has(missing)
    assert tier.stat(missing) is None
    assert tier.open_read(missing) is None


def test_corrupt_far_fails_the_read_and_leaves_near_clean() -> None:
    # One bit flipped half-way: the chunks before it verify and may stay in near, nothing else.
    far = FaultyStore(far_store(BLOB), Fault("flip_read", target=0, position=8 * 600_000))
    near = near_store()
    tier = CacheStore(near, far)
    with open_through(tier) as reader, pytest.raises(VerificationError):
        read_all(reader)
    assert not near.has(DIGEST)
    assert not any(True for _ in near.record_digests()), "no blob was completed in near"
    kept = list(near.chunk_digests())
    assert kept, "verified chunks before the flip stay"
    for digest in kept:
        data = near.read_chunk(digest)
        assert data is not None and bao.hash(data) == digest and data in BLOB


# -- near failures ------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0, 500_000], ids=["no-writer", "fails-mid-blob"])
def test_near_failing_on_write_does_not_fail_reads(
    budget: int, caplog: pytest.LogCaptureFixture
) -> None:
    near = NoRoom(near_store(), budget)
    tier = CacheStore(near, far_store(BLOB))
    with caplog.at_level(logging.WARNING, logger="baostore.compose.cache"):
        with open_through(tier) as reader:
            assert read_all(reader) == BLOB
        with open_through(tier) as reader:
            assert read_all(reader) == BLOB
    assert tier.near_write_failures == 2 and tier.fills == 0
    assert not near.inner.has(DIGEST)
    assert any("near store failed to record" in r.getMessage() for r in caplog.records)


class BrokenReads(Counting):
    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        raise StoreError("I/O error")

    def open_read(self, digest: bytes) -> BlobReader | None:
        raise StoreError("I/O error")


def test_near_failing_on_lookup_falls_back_to_far() -> None:
    tier = CacheStore(BrokenReads(near_store()), far_store(BLOB))
    stat = tier.stat(DIGEST)
    assert stat is not None and stat.size == len(BLOB)
    with open_through(tier) as reader:
        assert read_all(reader) == BLOB
    assert tier.near_read_failures == 2


# -- composition and writes ---------------------------------------------------------------


def test_cache_over_substituters_fills_near_and_fails_over() -> None:
    dying = FaultyStore(far_store(BLOB), Fault("truncate_read", target=0, amount=10))
    remotes = SubstitutersStore({"empty": far_store(), "dying": dying, "good": far_store(BLOB)})
    near = near_store()
    tier = CacheStore(near, remotes)
    with open_through(tier) as reader:
        assert read_all(reader) == BLOB
    assert near.has(DIGEST) and tier.fills == 1
    assert remotes.failures == {"empty": 0, "dying": 1, "good": 0}


class ReadsItselfVerified(ForwardingStore):
    """A far store with a verified read of its own (as substituters have): the tier must ask it,
    whatever its class."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__(inner)
        self.asked: list[BlobStore | None] = []

    def open_verified(self, digest: bytes, opener: VerifiedOpener) -> VerifiedBlobReader | None:
        self.asked.append(opener.cache)
        return opener.open(self.inner, digest)


def test_the_tier_asks_far_how_it_is_read_verified() -> None:
    near = near_store()
    far = ReadsItselfVerified(far_store(BLOB))
    tier = CacheStore(near, far)
    with open_through(tier) as reader:
        assert read_all(reader) == BLOB
    assert far.asked == [near]  # asked once, with near as the chunk cache
    assert near.has(DIGEST) and tier.fills == 1


def test_writes_go_to_near_unless_told_otherwise() -> None:
    near, far = near_store(), far_store()
    digest = CacheStore(near, far).put(BLOB)
    assert near.has(digest) and not far.has(digest)
    near, far = near_store(), far_store()
    digest = CacheStore(near, far, write_to="far").put(BLOB)
    assert far.has(digest) and not near.has(digest)
    with pytest.raises(ValueError, match="write_to"):
        CacheStore(near, far, write_to="both")  # type: ignore[arg-type]


def test_stat_records_a_blob_whose_chunks_near_holds() -> None:
    far, near = far_store(BLOB), near_store()
    tier = CacheStore(near, far)
    chunks = far.chunks(DIGEST)
    assert chunks
    for chunk in chunks:  # what a client reading chunk by chunk through the tier leaves behind
        pieces = tier.read_raw(chunk.digest)
        assert pieces is not None and bao.hash(b"".join(pieces)) == chunk.digest
    assert not near.has(DIGEST)
    stat = tier.stat(DIGEST)
    assert stat is not None and stat.size == len(BLOB)
    assert near.has(DIGEST)
    assert stat.chunks == near.chunks(DIGEST)


def test_caching_proxy_serves_after_far_is_gone() -> None:
    near = near_store()
    with contextlib.ExitStack() as far_up:
        far_url = far_up.enter_context(serve_in_thread(far_store(BLOB)))
        proxy = CacheStore(near, GrpcBlobStore.from_url(far_url))
        with serve_in_thread(proxy) as proxy_url, GrpcBlobStore.from_url(proxy_url) as client:
            reader = client.open_read(DIGEST)
            assert reader is not None and read_all(reader) == BLOB
            assert client.stat(DIGEST) is not None
            far_up.close()
            reader = client.open_read(DIGEST)
            assert reader is not None and read_all(reader) == BLOB
        proxy.close()
    assert near.has(DIGEST)
