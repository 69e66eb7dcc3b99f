"""A damaged local chunk cache: its bad bytes are never handed on, and the read does not fail for
good (the chunk comes from the source instead). A lying source that lists chunks the cache holds
for other blobs still gets a verification error, not endless retries."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_OK
from baostore.store.chunked import ChunkedStore, chunk_key
from baostore.store.interface import BlobStore, ChunkMeta, Stat
from baostore.verify import ReadOptions, VerificationError, open_verified

from tests.adversarial.conftest import small_chunk_store
from tests.adversarial.faults import Fault, FaultyStore
from tests.support.grpc_server import serve_in_thread

BLOB = os.urandom(600_000)
OTHER = os.urandom(200_000)


def filled_cache(source: BlobStore, digest: bytes) -> ChunkedStore:
    """A cache that took every chunk of the blob on a first read."""
    cache = small_chunk_store()
    reader = open_verified(source, digest, cache=cache)
    assert reader is not None
    with reader:
        assert reader.read() == BLOB
    return cache


def damage(cache: ChunkedStore, chunk: ChunkMeta, how: str) -> None:
    data = cache.read_chunk(chunk.digest)
    assert data is not None
    if how == "flip":
        damaged = bytearray(data)
        damaged[len(damaged) // 2] ^= 0x10
        data = bytes(damaged)
    elif how == "truncate":
        data = data[:-100]
    else:
        data = data + b"more"
    cache.backend.put(chunk_key(chunk.digest), data)


@pytest.mark.parametrize("how", ["flip", "truncate", "extend"])
@pytest.mark.parametrize("which", [0, 3, -1])
@pytest.mark.parametrize("start", [0, 150_000])
def test_a_damaged_cached_chunk_is_fetched_from_the_source(
    how: str, which: int, start: int
) -> None:
    source = small_chunk_store()
    digest = source.put(BLOB)
    chunks = source.chunks(digest)
    assert chunks is not None and len(chunks) >= 5
    cache = filled_cache(source, digest)
    damage(cache, chunks[which], how)
    reader = open_verified(source, digest, cache=cache)
    assert reader is not None
    with reader:
        reader.seek(start)
        assert reader.read() == BLOB[start:]
    if start == 0 or chunks[which] != chunks[0]:
        assert chunks[which].digest in reader.stats.fetched_digests


def test_every_cached_chunk_damaged_still_reads() -> None:
    source = small_chunk_store()
    digest = source.put(BLOB)
    cache = filled_cache(source, digest)
    for chunk in source.chunks(digest) or ():
        damage(cache, chunk, "flip")
    reader = open_verified(source, digest, ReadOptions(bao_shift=0), cache=cache)
    assert reader is not None
    with reader:
        pieces = []
        while piece := reader.read1(10_000):
            pieces.append(piece)
    assert b"".join(pieces) == BLOB


class ListsOtherChunks(FaultyStore):
    """A source whose chunk list names chunks of another blob (which the client's cache holds)."""

    def __init__(self, inner: BlobStore, other_chunks: tuple[ChunkMeta, ...]) -> None:
        super().__init__(inner, Fault("flip_read", target=1 << 30))
        self.other_chunks = other_chunks

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        chunks = list(stat.chunks)
        if len(chunks) < 2:  # (a window of one chunk: the lie comes with the next one)
            return stat
        chunks[1] = ChunkMeta(self.other_chunks[0].digest, chunks[1].size)
        return replace(stat, chunks=tuple(chunks))


def test_chunks_of_another_cached_blob_in_the_list_are_a_verification_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    honest = small_chunk_store()
    digest, other = honest.put(BLOB), honest.put(OTHER)
    cache = filled_cache(honest, digest)
    other_reader = open_verified(honest, other, cache=cache)
    assert other_reader is not None
    with other_reader:
        assert other_reader.read() == OTHER
    liar = ListsOtherChunks(honest, honest.chunks(other) or ())
    fresh_cache = small_chunk_store()
    for chunk_digest in cache.chunk_digests():
        data = cache.read_chunk(chunk_digest)
        assert data is not None and bao.hash(data) == chunk_digest
        if data not in BLOB:
            fresh_cache.put_chunk(data)  # only the other blob's chunks: ours must be fetched
    reader = open_verified(liar, digest, cache=fresh_cache)
    assert reader is not None
    handed_on = bytearray()
    with reader, pytest.raises(VerificationError):
        # From byte 1: chunk by chunk (one Read of the whole blob would never use the list).
        reader.seek(1)
        while piece := reader.read(7000):
            handed_on += piece
    assert bytes(handed_on) == BLOB[1 : 1 + len(handed_on)]
    assert "damaged" not in caplog.text  # the cache's true copy is not blamed for the lie
    for chunk_digest in fresh_cache.chunk_digests():
        data = fresh_cache.read_chunk(chunk_digest)
        assert data is not None and bao.hash(data) == chunk_digest


def test_get_through_a_rotted_cache_on_disk_still_writes_the_blob(tmp_path: Path) -> None:
    source = small_chunk_store()
    digest = source.put(BLOB)
    cache_dir = tmp_path / "cache"
    with serve_in_thread(source) as url:

        def get(name: str) -> int:
            target = tmp_path / name
            command = ["get", digest.hex(), "--store", url, "-o", str(target)]
            return main([*command, "--cache", cache_dir.as_uri(), "--no-progress"])

        assert get("first.bin") == EXIT_OK
        chunk_files = [path for path in cache_dir.rglob("*") if path.is_file()]
        assert len(chunk_files) == len(source.chunks(digest) or ())
        for path in chunk_files:  # bit rot in every cached chunk
            data = bytearray(path.read_bytes())
            data[-1] ^= 1
            path.write_bytes(bytes(data))
        assert get("second.bin") == EXIT_OK
    assert (tmp_path / "second.bin").read_bytes() == BLOB
