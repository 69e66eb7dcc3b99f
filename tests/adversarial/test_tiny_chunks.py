"""A source whose chunk list names thousands of tiny chunks does not make the chunk cache write a
(durable) file per chunk: chunks under MIN_CACHED_CHUNK bytes are not cached on their own, other
than a blob's last, so a blob costs the cache at most one file per MIN_CACHED_CHUNK bytes."""

from __future__ import annotations

import os

import pytest
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.objects import memory_backend
from baostore.verify import open_verified
from baostore.verify.source import MIN_CACHED_CHUNK

from tests.support.stores import small_chunk_memory_store

BLOB = os.urandom(320_000)
# The smallest chunks FastCDC cuts: a store may really be configured so.
TINY_CHUNKS = ChunkSizes(min=64, avg=256, max=1024)


@pytest.mark.parametrize(
    "start", [0, 100_000], ids=["one Read of the whole blob", "a Read per chunk after a seek"]
)
def test_tiny_chunks_are_not_cached_one_file_each(start: int) -> None:
    source = ChunkedStore(memory_backend(), chunk_sizes=TINY_CHUNKS)
    digest = source.put(BLOB)
    chunks = source.chunks(digest) or ()
    assert len(chunks) > 300
    cache = ChunkedStore(memory_backend())
    reader = open_verified(source, digest, cache=cache)
    assert reader is not None
    with reader:
        reader.seek(start)
        assert reader.read() == BLOB[start:]
    cached = set(cache.chunk_digests())
    assert cached <= {chunks[-1].digest}, f"{len(cached)} chunks cached one by one"


def test_chunks_of_a_usual_size_are_still_cached() -> None:
    source = small_chunk_memory_store()
    digest = source.put(BLOB)
    cache = ChunkedStore(memory_backend())
    reader = open_verified(source, digest, cache=cache)
    assert reader is not None
    with reader:
        assert reader.read() == BLOB
    chunks = source.chunks(digest) or ()
    big = {chunk.digest for chunk in chunks if chunk.size >= MIN_CACHED_CHUNK}
    assert big and big <= set(cache.chunk_digests())
