"""What reads cost in backend calls, counted: on an S3-backed cache tier each is a round trip.
A cached chunk is read with one call and ``has`` of a chunk takes one; a whole-blob read asks the
cache about its first few chunks only before its first byte, not about every chunk."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import Stat, StatRequest
from baostore.store.objects import ObjectBackend
from baostore.verify import open_verified
from obstore.store import MemoryStore

from tests.support.stores import SMALL_CHUNKS

BLOB = os.urandom(4 << 20)


class CountingBackend(ObjectBackend):
    """A memory backend that counts its calls (any thread)."""

    def __init__(self) -> None:
        super().__init__(MemoryStore(), "counting memory")
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def get(self, key: str) -> bytes | None:
        self._count("get")
        return super().get(key)

    def get_view(self, key: str) -> memoryview | None:
        self._count("get")
        return super().get_view(key)

    def read_into(self, key: str, offset: int, target: memoryview) -> int | None:
        self._count("get")
        return super().read_into(key, offset, target)

    def size(self, key: str) -> int | None:
        self._count("size")
        return super().size(key)

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        self._count("get_ranges")
        return super().get_ranges(key, ranges)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _cache_holding(data: bytes) -> tuple[ChunkedStore, CountingBackend, bytes]:
    backend = CountingBackend()
    cache = ChunkedStore(backend)
    digest = cache.put_chunk(data)
    backend.calls.clear()
    return cache, backend, digest


def test_a_cached_chunk_is_read_with_one_backend_call() -> None:
    chunk = os.urandom(40_000)
    cache, backend, digest = _cache_holding(chunk)
    pieces = cache.read_raw(digest)
    assert pieces is not None and b"".join(pieces) == chunk
    assert backend.total == 1, backend.calls


def test_has_of_a_chunk_is_one_backend_call() -> None:
    cache, backend, digest = _cache_holding(os.urandom(40_000))
    assert cache.has(digest)
    assert backend.total == 1, backend.calls


def test_has_and_read_of_a_blob_still_find_its_record() -> None:
    store = ChunkedStore(CountingBackend(), chunk_sizes=SMALL_CHUNKS)
    digest = store.put(BLOB)
    assert store.has(digest)
    pieces = store.read_raw(digest)
    assert pieces is not None and b"".join(pieces) == BLOB


class WholeAnswers(ForwardingStore):
    """A source as a server without ranged Stat: every Stat answered for the whole blob, so the
    reader knows every chunk of the blob from its first answer."""

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        return super().stat_request(digest, replace(request, range=None))


def test_a_whole_read_asks_the_cache_about_its_first_chunks_only() -> None:
    source = ChunkedStore(CountingBackend(), chunk_sizes=SMALL_CHUNKS)
    digest = source.put(BLOB)
    chunks = source.chunks(digest) or ()
    assert len(chunks) > 50
    backend = CountingBackend()
    cache = ChunkedStore(backend)
    reader = open_verified(WholeAnswers(source), digest, cache=cache)
    assert reader is not None
    with reader:
        assert reader.read1(1) == BLOB[:1]
        asked = backend.total
        assert reader.read() == BLOB[1:]
    assert asked <= 8, f"{asked} cache calls before the first byte ({len(chunks)} chunks)"
