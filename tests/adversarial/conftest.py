"""Stores for the adversarial suite: small chunks so a few hundred KiB span many chunks."""

from __future__ import annotations

from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.objects import memory_backend

# The minimum chunk spans two 16 KiB groups, so a small range read needs at most two chunks.
SMALL_CHUNKS = ChunkSizes(min=32 << 10, avg=48 << 10, max=128 << 10)


def small_chunk_store() -> ChunkedStore:
    return ChunkedStore(memory_backend(), chunk_sizes=SMALL_CHUNKS)
