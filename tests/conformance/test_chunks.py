"""Chunk lists and deduplication of shared chunks."""

from __future__ import annotations

from baostore import bao

from tests.conformance.blobs import LARGE, LARGE_SIZE, MEDIUM, PAIR, edited
from tests.conformance.conftest import StoreUnderTest


def test_chunk_list_covers_the_blob(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    stat = subject.store.stat(digest, send_chunks=True, send_bao=False)
    assert stat is not None
    assert stat.size == LARGE_SIZE
    assert len(stat.chunks) > 1
    assert sum(chunk.size for chunk in stat.chunks) == LARGE_SIZE
    assert subject.store.chunks(digest) == stat.chunks
    pieces = []
    for chunk in stat.chunks:
        reader = subject.store.open_read(chunk.digest)
        assert reader is not None, chunk
        with reader:
            data = reader.read()
        assert len(data) == chunk.size
        assert bao.hash(data) == chunk.digest
        pieces.append(data)
    assert b"".join(pieces) == LARGE


def test_small_blob_has_no_finer_chunking(subject: StoreUnderTest) -> None:
    # Below the suite's minimum chunk size (16 KiB) a blob is always a single chunk.
    for data in (b"", PAIR, MEDIUM[:10_000]):
        digest = subject.store.put(data)
        assert subject.store.chunks(digest) == ()
        stat = subject.store.stat(digest, send_chunks=True)
        assert stat is not None
        assert stat.chunks == ()
        assert stat.size == len(data)


def test_chunks_not_sent_unless_asked(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    stat = subject.store.stat(digest, send_chunks=False, send_bao=False)
    assert stat is not None
    assert stat.chunks == ()
    assert stat.bao == b""


def test_shared_chunks_are_stored_once(subject: StoreUnderTest) -> None:
    first = subject.store.put(LARGE)
    first_chunks = subject.store.chunks(first)
    assert first_chunks
    assert subject.backing.object_counts().chunks == len({c.digest for c in first_chunks})

    second_data = edited(LARGE)
    second = subject.store.put(second_data)
    second_chunks = subject.store.chunks(second)
    assert second_chunks
    first_digests = {c.digest for c in first_chunks}
    second_digests = {c.digest for c in second_chunks}
    shared = first_digests & second_digests
    assert len(shared) >= len(first_digests) // 2, "an edit should leave most chunks in place"

    counts = subject.backing.object_counts()
    assert counts.records == 2
    assert counts.chunks == len(first_digests | second_digests)
    reader = subject.store.open_read(second)
    assert reader is not None
    with reader:
        assert reader.read() == second_data
