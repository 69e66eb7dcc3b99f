"""Stores for the adversarial suite: small chunks so a few hundred KiB span many chunks."""

from __future__ import annotations

from baostore import bao
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.interface import BlobStore
from baostore.store.objects import memory_backend

# The minimum chunk spans two 16 KiB groups, so a small range read needs at most two chunks.
SMALL_CHUNKS = ChunkSizes(min=32 << 10, avg=48 << 10, max=128 << 10)


def small_chunk_store() -> ChunkedStore:
    return ChunkedStore(memory_backend(), chunk_sizes=SMALL_CHUNKS)


def assert_cache_holds_only_truth(cache: ChunkedStore, honest: BlobStore, blob: bytes) -> None:
    """After reading ``blob`` from a liar serving ``honest``'s copy, ``cache`` holds nothing
    but true data: blobs that are the blob or its chunks, chunk objects that occur in it."""
    digest = bao.hash(blob)
    allowed = {chunk.digest for chunk in honest.chunks(digest) or ()} | {digest}
    assert set(cache.record_digests()) <= allowed
    for chunk_digest in cache.chunk_digests():
        data = cache.read_chunk(chunk_digest)
        assert data is not None and data in blob
