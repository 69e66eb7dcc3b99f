"""A caching tier records a blob from chunks near already holds when far's Stat lists them. Far is
not trusted: a Stat that lists a big blob near holds over and over (a 4 MiB answer can name it
100 000 times) must not make near join and hash terabytes. Only a Stat whose bao proves the size
is followed, and only as far as that size."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from baostore import bao
from baostore.compose.cache import CacheStore
from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore, ChunkMeta, Stat

from tests.adversarial.conftest import small_chunk_store

BIG = os.urandom(1_000_000)
SMALL = os.urandom(300_000)


class CountingReads(ForwardingStore):
    """Counts the bytes ``read_raw`` hands out."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__(inner)
        self.bytes_read = 0

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None

        def counted() -> Iterator[bytes]:
            for piece in pieces:
                self.bytes_read += len(piece)
                yield piece

        return counted()


class RepeatsAChunk(ForwardingStore):
    """Far answering Stat for ``target`` with ``chunk`` listed ``times`` times."""

    def __init__(self, inner: BlobStore, target: bytes, chunk: ChunkMeta, times: int) -> None:
        super().__init__(inner)
        self.target, self.chunk, self.times = target, chunk, times

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        if digest != self.target:
            return stat
        return replace(stat, size=self.chunk.size * self.times, chunks=(self.chunk,) * self.times)


def tier_with_big_blob_in_near() -> tuple[CacheStore, CountingReads, ChunkedStore, bytes, bytes]:
    honest: ChunkedStore = small_chunk_store()
    big, small = honest.put(BIG), honest.put(SMALL)
    near = CountingReads(small_chunk_store())
    near.put(BIG)
    liar = RepeatsAChunk(honest, small, ChunkMeta(big, len(BIG)), times=40)
    return CacheStore(near, liar), near, honest, big, small


def test_a_stat_listing_a_near_blob_again_and_again_joins_nothing() -> None:
    tier, near, _, _, small = tier_with_big_blob_in_near()
    stat = tier.stat(small)
    assert stat is not None  # far's answer is passed on (whoever reads through it verifies)
    assert near.bytes_read == 0
    assert not near.has(small) and near.has(bao.hash(BIG))


def test_a_stat_whose_bao_checks_out_still_records_from_near_chunks() -> None:
    honest: ChunkedStore = small_chunk_store()
    digest = honest.put(SMALL)
    near = CountingReads(small_chunk_store())
    for chunk in honest.chunks(digest) or ():
        data = honest.read_chunk(chunk.digest)
        assert data is not None
        near.put_chunk(data)
    tier = CacheStore(near, honest)
    assert tier.stat(digest) is not None
    assert near.has(digest) and near.bytes_read == len(SMALL)
