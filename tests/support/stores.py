"""Stores for the gRPC and CLI tests: a chunked memory store with small chunks, and a wrapper
that records what the server did to its writers."""

from __future__ import annotations

import threading

from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore, BlobWriter
from baostore.store.objects import memory_backend
from typing_extensions import Buffer

# Small chunks so that a blob of a few hundred KiB already has a chunk list.
SMALL_CHUNKS = ChunkSizes(min=16 << 10, avg=32 << 10, max=64 << 10)


def small_chunk_memory_store() -> ChunkedStore:
    return ChunkedStore(memory_backend(), chunk_sizes=SMALL_CHUNKS)


class RecordingWriter(BlobWriter):
    def __init__(self, inner: BlobWriter, store: RecordingStore) -> None:
        self._inner = inner
        self._store = store

    def write(self, data: Buffer) -> int:
        self._store.bytes_written += len(memoryview(data))
        self._store.written.set()
        return self._inner.write(data)

    def close(self) -> bytes:
        return self._inner.close()

    def abort(self) -> None:
        self._inner.abort()
        self._store.aborted.set()


class RecordingStore(ForwardingStore):
    """Delegates to ``inner``; ``written`` is set at the first write, ``aborted`` when a writer is
    aborted."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__(inner)
        self.written = threading.Event()
        self.aborted = threading.Event()
        self.bytes_written = 0

    def open_write(self) -> BlobWriter:
        return RecordingWriter(self.inner.open_write(), self)
