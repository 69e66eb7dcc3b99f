"""A source that sends its Reads in tiny pieces costs a verified reader no more memory than one
that sends them whole: small pieces are joined as they arrive, not kept as an object (and a view)
each until their chunk verified and went to the cache."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator

import pytest
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore
from baostore.store.objects import memory_backend
from baostore.verify import open_verified

BLOB = os.urandom(4 << 20)
CHUNKS = ChunkSizes(min=256 << 10, avg=512 << 10, max=1 << 20)
# Joined pieces cost a copy while they gather, and the read's own buffers stay: a little over
# what whole pieces cost, far from an object per tiny piece (twice as much and more).
ALLOWED_RATIO = 1.3


class PiecesOf(ForwardingStore):
    """``inner``, its Reads sent in pieces of ``piece_size`` bytes."""

    def __init__(self, inner: BlobStore, piece_size: int) -> None:
        super().__init__(inner)
        self.piece_size = piece_size

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None
        step = self.piece_size
        return (piece[i : i + step] for piece in pieces for i in range(0, len(piece), step))


def _peak_reading(source: BlobStore, digest: bytes, start: int) -> int:
    """Peak memory traced while reading ``digest`` from ``start`` as get does (read1), with a
    chunk cache (verified chunks wait for it)."""
    cache = ChunkedStore(memory_backend())
    tracemalloc.start()
    try:
        reader = open_verified(source, digest, cache=cache)
        assert reader is not None
        with reader:
            reader.seek(start)
            received = 0
            while piece := reader.read1(1 << 20):
                assert piece == BLOB[start + received : start + received + len(piece)]
                received += len(piece)
        assert received == len(BLOB) - start
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "start", [0, 100_000], ids=["one Read of the whole blob", "a Read per chunk after a seek"]
)
def test_tiny_pieces_cost_no_more_memory_than_whole_ones(start: int) -> None:
    store = ChunkedStore(memory_backend(), chunk_sizes=CHUNKS)
    digest = store.put(BLOB)
    whole = _peak_reading(PiecesOf(store, 1 << 20), digest, start)
    tiny = _peak_reading(PiecesOf(store, 16), digest, start)
    assert tiny <= ALLOWED_RATIO * whole, f"{tiny / whole:.2f}x the memory of whole pieces"
