"""SubstitutersStore: ordered members, verified failover (also mid-stream), reporting."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest
from baostore import bao
from baostore.compose.recent import RecentChunks
from baostore.compose.substituters import FailoverReader, SubstitutersStore
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import (
    BlobReader,
    BlobStore,
    Readable,
    ReadStats,
    Stat,
    StatRequest,
    StoreError,
)
from baostore.store.objects import memory_backend
from baostore.verify import ReadOptions
from typing_extensions import Buffer

from tests.adversarial.faults import Fault, FaultyStore
from tests.support.grpc_server import serve_in_thread

CHUNKS = ChunkSizes(min=16 << 10, avg=32 << 10, max=64 << 10)
BLOB = random.Random(55).randbytes(1_500_000)
DIGEST = bao.hash(BLOB)


def chunked_store(*blobs: bytes) -> ChunkedStore:
    store = ChunkedStore(memory_backend(), chunk_sizes=CHUNKS)
    for blob in blobs:
        store.put(blob)
    return store


class Down(ForwardingStore):
    """A member that cannot be reached at all."""

    def __init__(self, reason: str = "connection refused") -> None:
        super().__init__(chunked_store())
        self.reason = reason

    def has(self, digest: bytes) -> bool:
        raise StoreError(self.reason)

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        raise StoreError(self.reason)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        raise StoreError(self.reason)


class DiesAfter(ForwardingStore):
    """Serves ``pieces`` Read pieces (counted over all its streams), then fails everything."""

    def __init__(self, inner: BlobStore, pieces: int) -> None:
        super().__init__(inner)
        self.remaining = pieces
        self._lock = threading.Lock()

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        self._check()
        return super().stat_request(digest, request)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        self._check()
        pieces = self.inner.read_raw(digest)
        return None if pieces is None else self._counted(pieces)

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            for start in range(0, len(piece), 8192):
                self._check()
                with self._lock:
                    self.remaining -= 1
                yield piece[start : start + 8192]

    def _check(self) -> None:
        if self.remaining <= 0:
            raise StoreError("connection lost")


class EventLog:
    """One ordered log: each member's first question about a blob (its Stat), and each verified
    chunk entering the read's cache."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []

    def member(self, name: str, inner: BlobStore) -> BlobStore:
        return _LoggedMember(inner, name, self.events)

    def cache(self) -> RecentChunks:
        return _LoggedCache(self.events)

    def verified(self) -> list[bytes]:
        return [digest for what, digest in self.events if what == "verified"]

    def verified_before(self, name: str) -> set[bytes]:
        """The chunks that had verified when member ``name`` was first asked for the blob."""
        return set(self._verified_split(name)[0])

    def verified_after(self, name: str) -> list[bytes]:
        """The chunks that verified once member ``name`` had been asked for the blob."""
        return self._verified_split(name)[1]

    def _verified_split(self, name: str) -> tuple[list[bytes], list[bytes]]:
        asked = [index for index, (what, _) in enumerate(self.events) if what == f"stat {name}"]
        assert asked, f"{name} was never asked"
        before, after = self.events[: asked[0]], self.events[asked[0] :]
        return (
            [digest for what, digest in before if what == "verified"],
            [digest for what, digest in after if what == "verified"],
        )


class _LoggedMember(ForwardingStore):
    def __init__(self, inner: BlobStore, name: str, events: list[tuple[str, bytes]]) -> None:
        super().__init__(inner)
        self.name = name
        self.events = events

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        self.events.append((f"stat {self.name}", digest))
        return self.inner.stat_request(digest, request)

    def close(self) -> None:
        self.inner.close()


class _LoggedCache(RecentChunks):
    def __init__(self, events: list[tuple[str, bytes]]) -> None:
        super().__init__()
        self.events = events

    def put(self, data: Buffer | Readable) -> bytes:
        digest = super().put(data)
        self.events.append(("verified", digest))
        return digest


def assert_no_verified_chunk_refetched(log: EventLog, reader: FailoverReader) -> None:
    """The second member fetched none of the chunks that verified before it took over."""
    before = log.verified_before("second")
    assert fetched(reader, "first") and fetched(reader, "second")
    assert not before & set(fetched(reader, "second")), "a chunk that verified was fetched again"
    assert not before & set(log.verified_after("second")), "a chunk verified twice"


def read_all(reader: BlobReader, piece: int = 100_000) -> bytes:
    return b"".join(iter(lambda: reader.read(piece), b""))


def fetched(reader: FailoverReader, member: str) -> list[bytes]:
    return [
        d for name, stats in reader.member_stats if name == member for d in stats.fetched_digests
    ]


def assert_each_chunk_verified_once(log: EventLog) -> None:  # for BLOB
    """No chunk verified twice; all verified but the one the next member resumed inside (its
    window starts at the group of the resume offset, so that chunk is never checked whole)."""
    chunks = chunked_store(BLOB).chunks(DIGEST)
    assert chunks
    verified = log.verified()
    assert len(verified) == len(set(verified))
    assert len({chunk.digest for chunk in chunks} - set(verified)) <= 1


# -- lookups ------------------------------------------------------------------------------


def test_first_member_that_has_the_blob_answers() -> None:
    other = random.Random(1).randbytes(70_000)
    first, second = chunked_store(other), chunked_store(BLOB)
    store = SubstitutersStore({"first": first, "second": second})
    assert store.has(DIGEST) and store.has(bao.hash(other))
    stat = store.stat(DIGEST)
    assert stat is not None and stat.size == len(BLOB)
    reader = store.open_read(DIGEST)
    assert reader is not None
    with reader:
        assert read_all(reader) == BLOB
    assert store.failures == {"first": 0, "second": 0}


def test_absent_only_when_every_member_says_so() -> None:
    store = SubstitutersStore([chunked_store(), chunked_store()])
    missing = bao.hash(b"nowhere")
    assert store.has(missing) is False
    assert store.stat(missing) is None
    assert store.open_read(missing) is None
    assert all(count == 0 for count in store.failures.values())


def test_a_down_member_is_skipped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    store = SubstitutersStore({"down": Down(), "up": chunked_store(BLOB)})
    with caplog.at_level(logging.WARNING, logger="baostore.compose.substituters"):
        assert store.has(DIGEST)
        reader = store.open_read(DIGEST)
        assert reader is not None
        with reader:
            assert read_all(reader) == BLOB
    assert store.failures == {"down": 2, "up": 0}
    assert any("down" in record.getMessage() for record in caplog.records)


def test_every_member_down_is_a_clear_error() -> None:
    store = SubstitutersStore({"a": Down("connection refused"), "b": Down("stalled for 5 s")})
    for operation in (store.has, store.stat, store.open_read):
        with pytest.raises(StoreError, match=r"a: connection refused.*b: stalled for 5 s"):
            operation(DIGEST)
    assert store.failures == {"a": 3, "b": 3}


def test_a_lacking_member_and_a_down_one_are_an_error_not_absent() -> None:
    store = SubstitutersStore({"empty": chunked_store(), "down": Down()})
    with pytest.raises(StoreError, match=r"empty: not found.*down: connection refused"):
        store.open_read(DIGEST)


def test_put_goes_to_the_first_member() -> None:
    first, second = chunked_store(), chunked_store()
    store = SubstitutersStore([first, second])
    digest = store.put(BLOB)
    assert first.has(digest) and not second.has(digest)
    with store.open_write() as writer:
        writer.write(b"written")
        assert first.has(writer.close())


def test_members_are_required() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        SubstitutersStore([])


# -- failover while reading ---------------------------------------------------------------


def test_corrupt_member_is_skipped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    liar = FaultyStore(chunked_store(BLOB), Fault("flip_read", target=0, position=12_345))
    store = SubstitutersStore({"liar": liar, "honest": chunked_store(BLOB)})
    with caplog.at_level(logging.WARNING, logger="baostore.compose.substituters"):
        reader = store.open_verified_read(DIGEST)
        assert reader is not None
        with reader:
            assert read_all(reader) == BLOB
            assert reader.member == "honest"
    assert store.failures == {"liar": 1, "honest": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("liar" in message and DIGEST.hex() in message for message in warnings)


@pytest.mark.parametrize("amount", [1000, 100_000])
def test_lying_stat_is_skipped(amount: int) -> None:
    # A size lie that changes the tree's shape fails the first window's proof at open; one
    # within the last group is caught where that group fails to verify: either way the honest
    # member serves the blob.
    liar = FaultyStore(chunked_store(BLOB), Fault("wrong_size", amount=amount))
    store = SubstitutersStore({"liar": liar, "honest": chunked_store(BLOB)})
    reader = store.open_verified_read(DIGEST)
    assert reader is not None
    assert read_all(reader) == BLOB
    assert reader.member == "honest"
    assert store.failures["liar"] == 1


@pytest.mark.parametrize("pieces", [1, 40, 90, 170])
def test_mid_stream_failure_resumes_without_refetching_verified_chunks(pieces: int) -> None:
    log = EventLog()
    first = log.member("first", DiesAfter(chunked_store(BLOB), pieces))
    second = log.member("second", chunked_store(BLOB))
    store = SubstitutersStore({"first": first, "second": second})
    reader = store.open_verified_read(DIGEST, cache=log.cache())
    assert reader is not None
    assert read_all(reader, 50_000) == BLOB
    assert reader.member == "second"
    assert store.failures == {"first": 1, "second": 0}
    assert_no_verified_chunk_refetched(log, reader)
    assert_each_chunk_verified_once(log)


def test_failover_without_a_cache_keeps_recent_chunks() -> None:
    first = DiesAfter(chunked_store(BLOB), 60)
    store = SubstitutersStore({"first": first, "second": chunked_store(BLOB)})
    reader = store.open_verified_read(DIGEST)
    assert reader is not None
    assert read_all(reader) == BLOB
    first_fetched = fetched(reader, "first")
    second_fetched = fetched(reader, "second")
    assert first_fetched and second_fetched
    chunks = store.chunks(DIGEST)
    assert chunks is not None
    # Only chunks that were in flight (unverified) when the first member died come again.
    in_flight = ReadOptions().parallelism + 1
    assert len(first_fetched) + len(second_fetched) <= len(chunks) + in_flight
    assert reader.stats.chunks_fetched == len(first_fetched) + len(second_fetched)


def test_every_member_failing_mid_stream_names_each() -> None:
    store = SubstitutersStore(
        {"a": DiesAfter(chunked_store(BLOB), 30), "b": DiesAfter(chunked_store(BLOB), 30)}
    )
    reader = store.open_verified_read(DIGEST)
    assert reader is not None
    with pytest.raises(StoreError, match=r"a: connection lost.*b: connection lost"):
        read_all(reader)


def test_seek_then_failover_reads_the_right_bytes() -> None:
    store = SubstitutersStore(
        {"first": DiesAfter(chunked_store(BLOB), 20), "second": chunked_store(BLOB)}
    )
    reader = store.open_verified_read(DIGEST)
    assert reader is not None
    reader.seek(700_001)
    assert reader.read(300_000) == BLOB[700_001:1_000_001]
    reader.seek(-5000, 2)
    assert reader.read() == BLOB[-5000:]
    reader.seek(10)
    assert reader.read(10) == BLOB[10:20]


# -- real servers -------------------------------------------------------------------------


def test_far_server_dying_mid_stream() -> None:
    """The first server's store fails after 60 Read pieces, and everything after (the server
    aborts the stream); the second server finishes the read."""
    log = EventLog()
    with (
        serve_in_thread(DiesAfter(chunked_store(BLOB), 60)) as first_url,
        serve_in_thread(chunked_store(BLOB)) as second_url,
    ):
        first = log.member("first", GrpcBlobStore.from_url(first_url))
        second = log.member("second", GrpcBlobStore.from_url(second_url))
        store = SubstitutersStore({"first": first, "second": second})
        reader = store.open_verified_read(DIGEST, cache=log.cache())
        assert reader is not None
        assert read_all(reader) == BLOB
        store.close()
    assert reader.member == "second"
    assert store.failures == {"first": 1, "second": 0}
    assert log.verified_before("second"), "the first server should have served some chunks"
    assert_no_verified_chunk_refetched(log, reader)
    assert_each_chunk_verified_once(log)


def test_far_server_stopped_mid_stream() -> None:
    """A real server stops while a blob streams from it. Its grace period lets a running Read go
    on for 1 s, so the reader pauses inside the stop; the blob is larger than what the client
    buffers ahead (8 messages) plus flow-control windows, so the rest of the stream is cut."""
    big = random.Random(56).randbytes(40 << 20)
    digest = bao.hash(big)
    first_store, second_store = (ChunkedStore(memory_backend()) for _ in range(2))
    first_store.put(big)
    second_store.put(big)
    log = EventLog()
    with serve_in_thread(second_store) as second_url, contextlib.ExitStack() as first_up:
        first_url = first_up.enter_context(serve_in_thread(first_store))
        first = log.member("first", GrpcBlobStore.from_url(first_url))
        second = log.member("second", GrpcBlobStore.from_url(second_url))
        store = SubstitutersStore({"first": first, "second": second})
        reader = store.open_verified_read(digest, cache=log.cache())
        assert reader is not None
        head = reader.read(4 << 20)
        first_up.close()  # returns once the first server has stopped
        rest = read_all(reader, 1 << 20)
        store.close()
    assert head + rest == big
    assert reader.member == "second"
    assert store.failures == {"first": 1, "second": 0}
    assert_no_verified_chunk_refetched(log, reader)


class StallsAfter(ForwardingStore):
    """Its Read streams send ``pieces`` pieces and then nothing until ``release`` is set."""

    def __init__(self, inner: BlobStore, pieces: int) -> None:
        super().__init__(inner)
        self.pieces = pieces
        self.release = threading.Event()

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        return None if pieces is None else self._stalling(pieces)

    def _stalling(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for index, piece in enumerate(pieces):
            if index >= self.pieces:
                self.release.wait(timeout=30)
            yield piece


def test_stalled_member_times_out_then_the_next_serves() -> None:
    stalling = StallsAfter(chunked_store(BLOB), pieces=0)
    with serve_in_thread(stalling) as slow_url, serve_in_thread(chunked_store(BLOB)) as good_url:
        try:
            slow = GrpcBlobStore.from_url(slow_url)
            slow.idle_timeout = 0.5
            store = SubstitutersStore({"slow": slow, "good": GrpcBlobStore.from_url(good_url)})
            reader = store.open_verified_read(DIGEST)
            assert reader is not None
            assert read_all(reader) == BLOB
            assert store.failures == {"slow": 1, "good": 0}
            store.close()
        finally:
            stalling.release.set()  # lets the server's worker thread finish before shutdown


def test_recent_chunks_keep_at_most_their_capacity() -> None:
    recent = RecentChunks(capacity=100_000)
    pieces = [random.Random(seed).randbytes(30_000) for seed in range(5)]
    digests = [recent.put(piece) for piece in pieces]
    assert digests == [bao.hash(piece) for piece in pieces]
    assert recent.held_bytes <= 100_000
    assert not recent.has(digests[0]) and recent.has(digests[-1])
    kept = recent.read_raw(digests[-1])
    assert kept is not None and b"".join(kept) == pieces[-1]
    assert recent.put(random.Random(9).randbytes(200_000)) and recent.held_bytes <= 100_000
    stat = recent.stat(digests[-1], inline_limit=50_000)
    assert stat is not None and (stat.size, stat.inline) == (30_000, pieces[-1])


def test_read_stats_combine_adds_every_field() -> None:
    def sample(base: int) -> ReadStats:
        values: dict[str, Any] = {
            part.name: [bytes([base + index])] if part.type == "list[bytes]" else base + index
            for index, part in enumerate(fields(ReadStats))
        }
        return ReadStats(**values)

    combined = sample(1).combine(sample(100))
    for index, part in enumerate(fields(ReadStats)):
        value = getattr(combined, part.name)
        if isinstance(value, list):
            assert value == [bytes([1 + index]), bytes([100 + index])], part.name
        else:
            assert value == 101 + 2 * index, part.name
