"""ChunkedStore behaviour beyond the conformance suite: atomicity, dedup, stat shifts, errors."""

from __future__ import annotations

import io
import random
import threading
from collections import Counter
from pathlib import Path

import pytest
from baostore import bao
from baostore.store.chunked import (
    CUT_WINDOW,
    ChunkedStore,
    ChunkSizes,
    ObjectCounts,
    chunk_key,
    record_key,
)
from baostore.store.intents import PENDING_PREFIX
from baostore.store.interface import StoreError
from baostore.store.objects import ObjectBackend, file_backend, memory_backend
from baostore.store.record import decode_parts_record
from hypothesis import given, settings
from hypothesis import strategies as st
from obstore.store import MemoryStore
from typing_extensions import Buffer

SMALL_CHUNKS = ChunkSizes(min=16 << 10, avg=64 << 10, max=256 << 10)
DATA = random.Random(3).randbytes(2 * (1 << 20) + 999)


class InstrumentedBackend(ObjectBackend):
    """A memory backend that counts operations and can fail the n-th put."""

    def __init__(self, fail_put_number: int | None = None) -> None:
        super().__init__(MemoryStore(), "instrumented memory")
        self.calls: Counter[str] = Counter()
        self.fail_put_number = fail_put_number
        self._lock = threading.Lock()  # chunks are uploaded from several threads

    def _count(self, operation: str) -> int:
        with self._lock:
            self.calls[operation] += 1
            return self.calls[operation]

    def get(self, key: str) -> bytes | None:
        self._count("get")
        return super().get(key)

    def read_into(self, key: str, offset: int, target: memoryview) -> int | None:
        self._count("get")
        return super().read_into(key, offset, target)

    def put(self, key: str, data: Buffer) -> None:
        self._count(f"put {key.split('/')[0]}")
        if self._count("put") == self.fail_put_number:
            raise StoreError(f"injected failure putting {key}")
        super().put(key, data)


def _store(backend: ObjectBackend, **options: int) -> ChunkedStore:
    return ChunkedStore(backend, chunk_sizes=SMALL_CHUNKS, **options)


def _assert_every_chunk_whole(store: ChunkedStore) -> None:
    for digest in store.chunk_digests():
        data = store.read_chunk(digest)
        assert data is not None
        assert bao.hash(data) == digest


@pytest.mark.parametrize("fail_at", [1, 2, 5, "record"])
def test_failed_put_leaves_no_record_and_removes_its_chunks(fail_at: int | str) -> None:
    probe = InstrumentedBackend()
    _store(probe).put(DATA)
    puts_needed = probe.calls["put"]  # the intents, every chunk, then the record
    failing_put = puts_needed if fail_at == "record" else int(fail_at)
    backend = InstrumentedBackend(fail_put_number=failing_put)
    store = _store(backend)
    with pytest.raises(StoreError, match="injected"):
        store.put(DATA)
    assert not store.has(bao.hash(DATA))
    # Nothing of it stays: not its chunks (nobody else relies on them), not its intents.
    assert store.object_counts() == ObjectCounts(records=0, chunks=0)
    assert list(backend.keys(PENDING_PREFIX)) == []
    # The store stays usable and the retry completes the blob.
    assert store.put(DATA) == bao.hash(DATA)


def test_failed_writer_refuses_more_writes() -> None:
    store = _store(InstrumentedBackend(fail_put_number=1))
    writer = store.open_write()
    with pytest.raises(StoreError):  # chunks are stored once the cut window (~8 MiB) fills
        for _ in range(8):
            writer.write(DATA)
    with pytest.raises(ValueError, match="earlier write failed"):
        writer.write(b"more")
    with pytest.raises(ValueError, match="earlier write failed"):
        writer.close()


def test_closed_writer_returns_its_digest_again() -> None:
    writer = _store(memory_backend()).open_write()
    writer.write(DATA)
    digest = writer.close()
    assert writer.close() == digest
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"x")


def test_record_is_written_after_every_chunk() -> None:
    order: list[str] = []

    class Recording(InstrumentedBackend):
        def put(self, key: str, data: Buffer) -> None:
            order.append(key.split("/")[0])
            super().put(key, data)

    _store(Recording()).put(DATA)
    assert order[-1] == "blobs"
    assert order.count("blobs") == 1
    assert set(order[:-1]) == {"chunks", PENDING_PREFIX}
    # Each batch of chunks is announced (intents.py) before any of its chunks is written.
    assert order[0] == PENDING_PREFIX


def test_file_store_holds_only_complete_objects(tmp_path: Path) -> None:
    store = _store(file_backend(tmp_path / "s"))
    digest = store.put(DATA)
    root = tmp_path / "s"
    files = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    chunks = store.chunks(digest)
    assert chunks
    expected = {record_key(digest)} | {chunk_key(c.digest) for c in chunks}
    intents = {name for name in files if name.startswith(f"{PENDING_PREFIX}/")}
    assert files - intents == expected  # no staging files left behind
    assert all("#" not in name for name in intents)
    _assert_every_chunk_whole(store)


def test_dedup_skips_uploads_of_known_chunks() -> None:
    backend = InstrumentedBackend()
    store = _store(backend)
    store.put(DATA)
    first_puts = backend.calls["put"]
    intents = backend.calls["put pending"]
    store.put(DATA)
    # Nothing new but the intents: chunks and record exist.
    assert backend.calls["put"] == first_puts + intents
    shifted = b"prefix" + DATA
    store.put(shifted)
    new_chunks = {c.digest for c in store.chunks(bao.hash(shifted)) or ()} - {
        c.digest for c in store.chunks(bao.hash(DATA)) or ()
    }
    assert backend.calls["put chunks"] == len(store.chunks(bao.hash(DATA)) or ()) + len(new_chunks)
    assert backend.calls["put blobs"] == 2
    assert len(new_chunks) <= 3  # only the chunks around the insertion changed


def test_single_chunk_blob_is_keyed_by_its_digest() -> None:
    backend = InstrumentedBackend()
    store = _store(backend)
    data = DATA[:5000]
    digest = store.put(data)
    assert backend.get(chunk_key(digest)) == data
    raw = backend.get(record_key(digest))
    assert raw is not None
    assert decode_parts_record(raw).chunk_count == 0


def test_bare_chunk_reads_and_stats_by_its_own_digest() -> None:
    store = _store(memory_backend())
    blob = store.put(DATA)
    chunk = (store.chunks(blob) or ())[1]
    assert store.has(chunk.digest)
    stat = store.stat(chunk.digest, bao_shift=0)
    assert stat is not None
    assert stat.size == chunk.size
    assert stat.chunks == ()
    data = store.read_chunk(chunk.digest)
    assert data is not None
    assert stat.bao == bao.outboard(data, 0)[1]


def test_coarser_shift_is_derived_without_reading_chunks() -> None:
    backend = InstrumentedBackend()
    store = _store(backend, bao_shift=2)
    digest = store.put(DATA)
    gets = backend.calls["get"]
    stat = store.stat(digest, bao_shift=6, bao_format="leaves")
    assert stat is not None
    assert stat.bao_shift == 6
    assert stat.bao == bao.outboard(DATA, 6, "leaves")[1]
    assert backend.calls["get"] == gets + 1  # the record only


def test_finer_shift_rehashes_within_the_limit() -> None:
    backend = InstrumentedBackend()
    store = _store(backend, bao_shift=4)
    digest = store.put(DATA)
    gets = backend.calls["get"]
    stat = store.stat(digest, bao_shift=1)
    assert stat is not None
    assert stat.bao_shift == 1
    assert stat.bao == bao.outboard(DATA, 1)[1]
    assert backend.calls["get"] == gets + 1 + len(store.chunks(digest) or ())


def test_finer_shift_beyond_the_limit_answers_with_the_stored_shift() -> None:
    backend = InstrumentedBackend()
    store = _store(backend, bao_shift=4, rehash_limit=len(DATA) - 1)
    digest = store.put(DATA)
    gets = backend.calls["get"]
    stat = store.stat(digest, bao_shift=1)
    assert stat is not None
    assert stat.bao_shift == 4
    assert stat.bao == bao.outboard(DATA, 4)[1]
    assert backend.calls["get"] == gets + 1
    without_bao = store.stat(digest, bao_shift=1, send_bao=False)
    assert without_bao is not None
    assert without_bao.bao_shift == 4


def test_corrupt_record_is_a_store_error() -> None:
    backend = InstrumentedBackend()
    store = _store(backend)
    digest = store.put(DATA)
    raw = bytearray(backend.get(record_key(digest)) or b"")
    raw[10] ^= 0xFF
    backend.put(record_key(digest), bytes(raw))
    with pytest.raises(StoreError, match="corrupt record"):
        store.stat(digest)


def test_missing_or_damaged_chunk_is_a_store_error() -> None:
    backend = InstrumentedBackend()
    store = _store(backend)
    digest = store.put(DATA)
    chunks = store.chunks(digest) or ()
    backend.delete(chunk_key(chunks[0].digest))
    backend.put(chunk_key(chunks[1].digest), b"short")
    reader = store.open_read(digest)
    assert reader is not None
    with pytest.raises(StoreError, match="missing"):
        reader.read(10)
    reader.seek(chunks[0].size)
    with pytest.raises(StoreError, match="holds 5 bytes"):
        reader.read(10)
    with pytest.raises(StoreError):
        store.stat(digest, bao_shift=0)  # rehashing needs every chunk


def test_backend_failure_is_a_store_error_with_cause(tmp_path: Path) -> None:
    store = _store(file_backend(tmp_path))
    # A chunk key whose parent "directory" is a file cannot be written.
    store.backend.put("chunks", b"x")
    with pytest.raises(StoreError) as caught:
        store.put(DATA)
    assert caught.value.__cause__ is not None


def test_concurrent_puts_and_reads() -> None:
    store = _store(memory_backend())
    blobs = [random.Random(seed).randbytes(300_000 + seed) for seed in range(8)]
    errors: list[BaseException] = []

    def work(data: bytes) -> None:
        try:
            digest = store.put(data)
            reader = store.open_read(digest)
            assert reader is not None
            with reader:
                assert reader.read() == data
            stat = store.stat(digest, bao_shift=2)
            assert stat is not None and stat.bao == bao.outboard(data, 2)[1]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(data,)) for data in blobs * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize(
    ("low", "average", "high"),
    [(0, 1024, 4096), (4096, 1024, 8192), (1024, 4096, 2048), (1024, 4096, 8 << 20)],
)
def test_bad_chunk_sizes_are_refused(low: int, average: int, high: int) -> None:
    with pytest.raises(ValueError):
        ChunkSizes(min=low, avg=average, max=high)


@pytest.mark.parametrize("shift", [-1, 33, 255])
def test_bad_shifts_are_refused(shift: int) -> None:
    with pytest.raises(ValueError):
        ChunkedStore(memory_backend(), bao_shift=shift)
    store = _store(memory_backend())
    digest = store.put(b"abc")
    with pytest.raises(ValueError):
        store.stat(digest, bao_shift=shift)


def test_bad_stat_arguments_are_refused() -> None:
    store = _store(memory_backend())
    digest = store.put(b"abc")
    with pytest.raises(ValueError, match="bao_format"):
        store.stat(digest, bao_format="post_order")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inline_limit"):
        store.stat(digest, inline_limit=-1)


def test_writer_stores_chunks_as_data_arrives() -> None:
    store = _store(memory_backend())
    writer = store.open_write()
    written = 0
    for seed in range(6):
        piece = random.Random(seed).randbytes(3 << 20)
        writer.write(piece)
        written += len(piece)
        stored = sum(len(store.read_chunk(d) or b"") for d in store.chunk_digests())
        # Uncut data held back never exceeds one maximum chunk plus the cut window.
        assert written - stored <= SMALL_CHUNKS.max + CUT_WINDOW
    writer.close()


_READ_STORE = _store(memory_backend())
_READ_DIGEST = _READ_STORE.put(DATA)
_operations = st.lists(
    st.tuples(
        st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END]),
        st.integers(-len(DATA) - 10, len(DATA) + 10),
        st.integers(-1, 600_000),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_operations)
def test_reader_matches_bytesio(operations: list[tuple[int, int, int]]) -> None:
    oracle = io.BytesIO(DATA)
    reader = _READ_STORE.open_read(_READ_DIGEST)
    assert reader is not None
    with reader:
        for whence, offset, count in operations:
            target = {io.SEEK_SET: 0, io.SEEK_CUR: oracle.tell(), io.SEEK_END: len(DATA)}[whence]
            if target + offset < 0:
                with pytest.raises((ValueError, OSError)):
                    reader.seek(offset, whence)
                continue
            assert reader.seek(offset, whence) == oracle.seek(offset, whence)
            assert reader.read(count) == oracle.read(count)
            assert reader.tell() == oracle.tell()


def test_read_raw_yields_one_piece_per_chunk() -> None:
    chunks = _READ_STORE.chunks(_READ_DIGEST)
    pieces = _READ_STORE.read_raw(_READ_DIGEST)
    assert chunks and pieces is not None
    pieces_list = list(pieces)
    assert [len(piece) for piece in pieces_list] == [chunk.size for chunk in chunks]
    assert b"".join(pieces_list) == DATA
    assert _READ_STORE.read_raw(bao.hash(b"absent")) is None


def test_listing_digests() -> None:
    store = _store(memory_backend())
    first = store.put(DATA)
    second = store.put(b"tiny")
    assert set(store.record_digests()) == {first, second}
    chunk_digests = {c.digest for c in store.chunks(first) or ()} | {second}
    assert set(store.chunk_digests()) == chunk_digests
    # Foreign objects under the prefixes are not mistaken for ours.
    store.backend.put("chunks/zz/not-hex", b"x")
    assert set(store.chunk_digests()) == chunk_digests


def test_put_chunk_stores_one_object_readable_by_digest() -> None:
    store = ChunkedStore(memory_backend())
    data = bytes(range(256)) * 9000  # bigger than the default maximum chunk: still one object
    digest = store.put_chunk(data)
    assert digest == bao.hash(data)
    assert store.has(digest)
    reader = store.open_read(digest)
    assert reader is not None and reader.read() == data
    assert store.put_chunk(data) == digest
    assert store.object_counts().chunks == 1
    assert list(store.record_digests()) == []


def test_put_chunk_with_an_expected_digest_stores_only_that_chunk() -> None:
    store = ChunkedStore(memory_backend())
    data = b"a verified chunk" * 1000
    other = bao.hash(b"what the chunk list claimed")
    assert store.put_chunk(data, expected_digest=other) == bao.hash(data)
    assert store.object_counts().chunks == 0
    assert store.put_chunk(data, expected_digest=bao.hash(data)) == bao.hash(data)
    assert store.object_counts().chunks == 1
