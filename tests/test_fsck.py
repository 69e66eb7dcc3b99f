"""fsck on deliberately damaged stores: what it finds, what --repair removes, what it leaves."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli.main import main
from baostore.store.chunked import ChunkedStore, chunk_key, record_key
from baostore.store.fsck import FsckOptions, check_store
from baostore.store.objects import file_backend
from baostore.store.record import BlobRecord, encode_record

from tests.support.stores import SMALL_CHUNKS, small_chunk_memory_store


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def store() -> ChunkedStore:
    return small_chunk_memory_store()


def v1_record(store: ChunkedStore, digest: bytes) -> BlobRecord:
    """The blob's record as version 1 wrote it (whole pre_order bao and chunk list inside)."""
    parts = store.blob_parts(digest)
    assert parts is not None
    (post_order,) = parts.read("bao", [(0, parts.parts["bao"].length)])
    pre_order = bao.post_order_to_pre_order(post_order, parts.size, parts.bao_shift)
    chunks = tuple(place.meta for place in parts.all_chunks())
    return BlobRecord(parts.size, parts.bao_shift, chunks if len(chunks) > 1 else (), pre_order)


def put_blobs(store: ChunkedStore) -> dict[str, bytes]:
    """An empty blob, a single-chunk blob and two multi-chunk blobs, by their hex digest."""
    blobs = [b"", blob(5000, 1), blob(300_000, 2), blob(200_000, 3)]
    return {store.put(data).hex(): data for data in blobs}


def multi_chunk_digest(store: ChunkedStore) -> bytes:
    return next(d for d in store.record_digests() if len(store.chunks(d) or ()) > 1)


def flip_byte(store: ChunkedStore, key: str, offset: int = 7) -> None:
    data = bytearray(store.backend.get(key) or b"")
    data[offset] ^= 0x01
    store.backend.put(key, bytes(data))


def assert_all_read_back(store: ChunkedStore, blobs: dict[str, bytes]) -> None:
    for hex_digest, data in blobs.items():
        reader = store.open_read(bytes.fromhex(hex_digest))
        assert reader is not None
        assert reader.read() == data


def test_a_clean_store_is_clean(store: ChunkedStore) -> None:
    blobs = put_blobs(store)
    report = check_store(store)
    assert not report.corrupt
    assert report.records_checked == len(blobs)
    assert report.unreferenced_chunks == []  # a single-chunk blob's chunk is referenced
    counts = store.object_counts()
    assert report.chunks_checked == counts.chunks
    assert report.bytes_checked == sum(len(data) for data in blobs.values())


def test_a_flipped_chunk_byte_breaks_the_chunk_and_its_record(store: ChunkedStore) -> None:
    blobs = put_blobs(store)
    damaged = multi_chunk_digest(store)
    victim = (store.chunks(damaged) or ())[1]
    flip_byte(store, chunk_key(victim.digest))

    report = check_store(store)
    assert report.corrupt
    assert [p.digest for p in report.corrupt_chunks] == [victim.digest]
    assert [p.digest for p in report.broken_records] == [damaged]
    assert "chunk 1" in report.broken_records[0].reason
    assert report.removed == []

    repaired = check_store(store, FsckOptions(repair=True))
    assert set(repaired.removed) == {record_key(damaged), chunk_key(victim.digest)}
    assert not check_store(store).corrupt
    assert not store.has(damaged)
    del blobs[damaged.hex()]
    assert_all_read_back(store, blobs)


def test_a_missing_chunk_breaks_the_record_only(store: ChunkedStore) -> None:
    put_blobs(store)
    damaged = multi_chunk_digest(store)
    victim = (store.chunks(damaged) or ())[0]
    store.backend.delete(chunk_key(victim.digest))

    report = check_store(store)
    assert report.corrupt_chunks == []
    assert [(p.digest, "missing" in p.reason) for p in report.broken_records] == [(damaged, True)]
    check_store(store, FsckOptions(repair=True))
    assert not check_store(store).corrupt


def test_a_damaged_single_chunk_blob(store: ChunkedStore) -> None:
    digest = store.put(blob(5000, 9))
    flip_byte(store, chunk_key(digest), offset=4999)
    report = check_store(store)
    assert [p.digest for p in report.corrupt_chunks] == [digest]
    assert [p.digest for p in report.broken_records] == [digest]


def test_a_damaged_record_fails_its_checksum(store: ChunkedStore) -> None:
    put_blobs(store)
    damaged = multi_chunk_digest(store)
    its_chunks = {chunk.digest for chunk in store.chunks(damaged) or ()}
    flip_byte(store, record_key(damaged), offset=30)
    report = check_store(store)
    assert [p.digest for p in report.broken_records] == [damaged]
    assert "checksum" in report.broken_records[0].reason
    # Its chunks are sound but nothing uses them now: reported, kept, not corruption.
    assert set(report.unreferenced_chunks) == its_chunks
    assert report.corrupt_chunks == []


def test_a_well_formed_record_with_a_wrong_bao_is_broken(store: ChunkedStore) -> None:
    damaged = store.put(blob(300_000, 4))
    record = v1_record(store, damaged)
    assert record is not None and record.bao
    wrong = bytearray(record.bao)
    wrong[0] ^= 0xFF
    store.backend.put(record_key(damaged), encode_record(replace(record, bao=bytes(wrong))))
    report = check_store(store)
    assert [p.digest for p in report.broken_records] == [damaged]
    assert "bao" in report.broken_records[0].reason


def test_a_record_with_shifted_chunk_sizes_is_broken(store: ChunkedStore) -> None:
    damaged = store.put(blob(300_000, 5))
    record = v1_record(store, damaged)
    assert record is not None and len(record.chunks) >= 2
    first, second, *rest = record.chunks
    moved = (replace(first, size=first.size + 1), replace(second, size=second.size - 1), *rest)
    store.backend.put(record_key(damaged), encode_record(replace(record, chunks=moved)))
    report = check_store(store)
    assert [p.digest for p in report.broken_records] == [damaged]
    assert "the record says" in report.broken_records[0].reason
    assert report.corrupt_chunks == []  # the chunks themselves are fine


def test_a_record_claiming_other_data_is_broken(store: ChunkedStore) -> None:
    """A record whose chunks are sound but belong to another blob fails the digest check."""
    other = store.put(blob(300_000, 6))
    record = v1_record(store, other)
    assert record is not None
    impostor = bao.hash(b"not these bytes")
    store.backend.put(record_key(impostor), encode_record(record))
    report = check_store(store)
    assert [p.digest for p in report.broken_records] == [impostor]


def test_unreferenced_chunks_are_reported_and_kept_unless_asked(store: ChunkedStore) -> None:
    blobs = put_blobs(store)
    leftover = store._store_chunk(blob(20_000, 7)).digest  # as a put that never finished
    report = check_store(store, FsckOptions(repair=True))
    assert not report.corrupt
    assert report.unreferenced_chunks == [leftover]
    assert report.removed == []
    assert store.has(leftover)

    report = check_store(store, FsckOptions(repair=True, remove_unreferenced=True))
    assert report.removed == [chunk_key(leftover)]
    assert not store.has(leftover)
    assert check_store(store).unreferenced_chunks == []
    assert_all_read_back(store, blobs)


def test_removing_unreferenced_chunks_is_a_repair(store: ChunkedStore) -> None:
    with pytest.raises(ValueError, match="repair"):
        check_store(store, FsckOptions(remove_unreferenced=True))


def test_an_oversized_chunk_object_is_corrupt_without_being_read(store: ChunkedStore) -> None:
    digest = bao.hash(b"huge")
    store.backend.put(chunk_key(digest), bytes(5 << 20))
    report = check_store(store)
    assert [p.digest for p in report.corrupt_chunks] == [digest]
    assert report.bytes_checked == 0


def test_a_shared_chunk_breaks_every_record_using_it(store: ChunkedStore) -> None:
    base = blob(300_000, 8)
    first = store.put(base)
    second = store.put(base + b"tail")  # same leading chunks (content-defined)
    shared = (store.chunks(first) or ())[0]
    assert shared in (store.chunks(second) or ())
    flip_byte(store, chunk_key(shared.digest))
    report = check_store(store)
    assert {p.digest for p in report.broken_records} == {first, second}
    assert [p.digest for p in report.corrupt_chunks] == [shared.digest]


# -- the command ------------------------------------------------------------------------------


def file_store(path: Path) -> ChunkedStore:
    return ChunkedStore(file_backend(path), chunk_sizes=SMALL_CHUNKS)


def test_cli_reports_damage_with_exit_4_and_repairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = file_store(tmp_path / "s")
    digest = store.put(os.urandom(200_000))
    url = (tmp_path / "s").as_uri()
    assert main(["fsck", "--store", url]) == 0
    assert "result:       clean" in capsys.readouterr().out

    victim = (store.chunks(digest) or ())[0]
    flip_byte(store, chunk_key(victim.digest))
    assert main(["fsck", "--store", url, "--json"]) == 4
    found = json.loads(capsys.readouterr().out)
    assert not found["ok"]
    assert found["broken_records"][0]["digest"] == digest.hex()
    assert found["corrupt_chunks"][0]["digest"] == victim.digest.hex()

    assert main(["fsck", "--store", url, "--repair"]) == 4
    assert "removed" in capsys.readouterr().out
    assert main(["fsck", "--store", url]) == 0


def test_cli_refuses_remote_stores_and_lone_remove_unreferenced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fsck", "--store", "grpc+http://127.0.0.1:1"]) == 2
    assert "fsck checks a store's own objects" in capsys.readouterr().err
    (tmp_path / "s").mkdir()  # fsck checks a store that exists; it never creates one
    url = (tmp_path / "s").as_uri()
    assert main(["fsck", "--store", url, "--remove-unreferenced"]) == 2
    assert "needs --repair" in capsys.readouterr().err


def test_staging_leftovers_of_a_file_store(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    digest = store.put(os.urandom(200_000))
    leftover = Path(record_key(digest) + "#1")  # what a kill between write and rename leaves
    (tmp_path / leftover).write_bytes(b"partial")
    report = check_store(store)
    assert not report.corrupt
    assert report.staging_leftovers == [leftover.as_posix()]
    assert check_store(store, FsckOptions(repair=True)).removed == []
    removed = check_store(store, FsckOptions(repair=True, remove_unreferenced=True)).removed
    assert removed == [leftover.as_posix()]
    assert not (tmp_path / leftover).exists()
    assert store.open_read(digest) is not None
