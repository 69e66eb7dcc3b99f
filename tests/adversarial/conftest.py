"""Stores for the adversarial suite: small chunks so a few hundred KiB span many chunks."""

from __future__ import annotations

from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.objects import memory_backend

SMALL_CHUNKS = ChunkSizes(min=16 << 10, avg=32 << 10, max=128 << 10)


def small_chunk_store() -> ChunkedStore:
    return ChunkedStore(memory_backend(), chunk_sizes=SMALL_CHUNKS)
