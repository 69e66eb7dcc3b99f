"""The chunked store's format 2: a blob's parts (post-order bao, chunk list, chunk index) kept
inline or as objects written while the Put streams, read by range; records of format 1 still read.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from baostore import bao
from baostore.errors import DataLossError
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore, record_key
from baostore.store.fsck import check_store, staging_leftovers
from baostore.store.interface import ByteRange, ChunkSizes
from baostore.store.parts import INLINE_PART_LIMIT, PartRef, part_key
from baostore.store.record import (
    BlobRecord,
    PartsRecord,
    RecordError,
    decode_any_record,
    encode_parts_record,
    encode_record,
)
from hypothesis import given, settings
from hypothesis import strategies as st

BLOB = random.Random(3).randbytes(4 << 20)


def big_parts_store() -> ChunkedStore:
    """1 KiB chunks and a shift-0 bao: a 4 MiB blob's chunk list and bao outgrow the record."""
    store = open_store("memory://?chunk_avg=1KiB&bao_shift=0")
    assert isinstance(store, ChunkedStore)
    return store


def parts_record(store: ChunkedStore, digest: bytes) -> PartsRecord:
    record = store.read_record(digest)
    assert isinstance(record, PartsRecord)
    return record


def test_big_parts_are_objects_of_their_own_and_fsck_checks_them() -> None:
    store = big_parts_store()
    digest = store.put(BLOB)
    record = parts_record(store, digest)
    bao_part, chunk_list, _ = record.parts
    assert bao_part.inline is None and bao_part.length > INLINE_PART_LIMIT
    assert chunk_list.inline is None and chunk_list.length == record.chunk_count * 40
    assert sorted(store.part_keys()) == sorted(
        part_key(record.upload_id, name)
        for name, part in zip(("bao", "chunks", "index"), record.parts, strict=True)
        if part.inline is None
    )
    report = check_store(store)
    assert not report.corrupt and report.unreferenced_parts == []
    stat = store.stat(digest, bao_shift=0, range=ByteRange(3 << 20, (3 << 20) + 1))
    assert stat is not None and stat.window == ((3 << 20), (3 << 20) + 1024)


def test_a_damaged_bao_part_breaks_its_record() -> None:
    store = big_parts_store()
    digest = store.put(BLOB)
    key = part_key(parts_record(store, digest).upload_id, "bao")
    damaged = bytearray(store.backend.get(key) or b"")
    damaged[len(damaged) // 2] ^= 1
    store.backend.put(key, bytes(damaged))
    report = check_store(store)
    assert [problem.digest for problem in report.broken_records] == [digest]
    assert "bao does not match its data" in report.broken_records[0].reason
    with pytest.raises(DataLossError):  # a proof through the damage fails its check
        for start in range(0, len(BLOB), 64 << 10):
            store.stat(digest, bao_shift=0, range=ByteRange(start, start + 1))


def test_a_missing_chunk_list_is_data_loss() -> None:
    store = big_parts_store()
    digest = store.put(BLOB)
    store.backend.delete(part_key(parts_record(store, digest).upload_id, "chunks"))
    with pytest.raises(DataLossError, match="chunks part"):
        store.stat(digest, range=ByteRange(100, 200))
    assert [problem.digest for problem in check_store(store).broken_records] == [digest]


def test_an_aborted_put_leaves_no_parts_and_a_second_put_no_second_copy(tmp_path: Path) -> None:
    store = open_store(f"{tmp_path.as_uri()}?chunk_avg=1KiB&bao_shift=0")
    assert isinstance(store, ChunkedStore)
    writer = store.open_write()
    writer.write(BLOB[: 3 << 20])  # enough for the parts to stream into staging files
    assert staging_leftovers(tmp_path)
    writer.abort()
    assert staging_leftovers(tmp_path) == [] and list(store.part_keys()) == []
    digest = store.put(BLOB)
    keys = sorted(store.part_keys())
    assert store.put(BLOB) == digest
    assert sorted(store.part_keys()) == keys  # the second Put's parts were discarded
    assert store.remove(digest) and list(store.part_keys()) == []


def test_a_version_1_record_is_read_as_it_is() -> None:
    store = open_store("memory://?chunk_avg=16KiB")
    assert isinstance(store, ChunkedStore)
    digest = store.put(BLOB)
    chunks = store.chunks(digest)
    assert chunks
    _, pre_order = bao.outboard(BLOB, 4)
    store.backend.put(
        record_key(digest), encode_record(BlobRecord(len(BLOB), 4, chunks, pre_order))
    )
    assert isinstance(store.read_record(digest), BlobRecord)
    whole = store.stat(digest, bao_shift=4)
    assert whole is not None and whole.bao == pre_order and whole.chunks == chunks
    stat = store.stat(digest, bao_shift=2, range=ByteRange(1_000_000, 1_004_096))
    assert stat is not None and stat.window is not None
    start, end = stat.window
    verifier = bao.Verifier.from_proof(digest, len(BLOB), stat.bao, 2, "pre_order", start, end)
    assert verifier.update(BLOB[start:end]) + verifier.finalize() == BLOB[start:end]
    reader = store.open_read(digest)
    assert reader is not None and reader.read() == BLOB
    assert not check_store(store).corrupt


@st.composite
def parts_records(draw: st.DrawFn) -> PartsRecord:
    size = draw(st.integers(0, 1 << 40))
    shift = draw(st.integers(0, 12))
    count = draw(st.sampled_from([0, 2, 3, 17]))
    block = draw(st.integers(1 << 16, 1 << 22))
    blocks = -(-size // block) if count else 0
    lengths = (bao.outboard_size(size, shift), count * 40, blocks * 8)
    inline = draw(st.lists(st.booleans(), min_size=3, max_size=3))
    parts = tuple(
        PartRef(length, bytes(length) if keep and length < 4096 else None)
        for length, keep in zip(lengths, inline, strict=True)
    )
    sizes = ChunkSizes.around(draw(st.sampled_from([4096, 65536, 1 << 19])))
    bao_part, chunk_list, index = parts
    return PartsRecord(size, shift, count, block, sizes, bytes(16), (bao_part, chunk_list, index))


@settings(max_examples=100, deadline=None)
@given(parts_records(), st.data())
def test_a_version_2_record_round_trips_and_any_damage_is_refused(
    record: PartsRecord, data: st.DataObject
) -> None:
    raw = encode_parts_record(record)
    assert decode_any_record(raw) == record
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(RecordError):
        decode_any_record(raw[:cut])
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    flipped = bytearray(raw)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(RecordError):
        decode_any_record(bytes(flipped))
