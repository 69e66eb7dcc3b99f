"""Garbage collection and the cleanup of aborted Puts, at the store: what goes, what stays, and
the protocol that keeps both safe while other Puts run (baostore.store.intents)."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli.failures import EXIT_OK, EXIT_USAGE
from baostore.cli.main import main
from baostore.errors import DataLossError
from baostore.store.chunked import CUT_WINDOW, ChunkedStore, chunk_key, record_key
from baostore.store.fsck import check_store, staging_leftovers
from baostore.store.gc import collect_garbage
from baostore.store.intents import (
    CONDEMNED_PREFIX,
    INTENT_LIFETIME,
    PENDING_PREFIX,
    encode_keys,
)
from baostore.store.objects import file_backend
from baostore.store.parts import PARTS_PREFIX

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import SMALL_CHUNKS, small_chunk_memory_store

# More than a writer holds uncut, so some of its chunks are stored before it is closed.
BEYOND_WINDOW = CUT_WINDOW + SMALL_CHUNKS.max + (1 << 20)


def after_the_intents() -> float:
    """A clock at which the intents of every Put so far have expired."""
    return time.time() + INTENT_LIFETIME


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def chunk_keys(store: ChunkedStore) -> set[str]:
    return {chunk_key(digest) for digest in store.chunk_digests()}


def keys_of(store: ChunkedStore, digest: bytes) -> set[str]:
    record = store.read_record(digest)
    assert record is not None
    return set(store.record_object_keys(digest, record))


def assert_reads_back(store: ChunkedStore, data: bytes) -> None:
    reader = store.open_read(bao.hash(data))
    assert reader is not None
    with reader:
        assert reader.read() == data


def assert_clean(store: ChunkedStore) -> None:
    report = check_store(store)
    assert not report.corrupt, (report.broken_records, report.corrupt_chunks)


@pytest.fixture
def store() -> ChunkedStore:
    return small_chunk_memory_store()


# -- garbage collection -------------------------------------------------------------------------


def test_gc_removes_what_no_record_uses_and_keeps_the_rest(store: ChunkedStore) -> None:
    kept, removed = blob(300_000, 1), blob(200_000, 2)
    shared = blob(100_000, 3)
    kept_digest = store.put(kept + shared)
    removed_digest = store.put(removed + shared)
    orphan = store.put_chunk(blob(5000, 4))  # a chunk cache's chunk: no record uses it
    garbage = (keys_of(store, removed_digest) - keys_of(store, kept_digest)) | {chunk_key(orphan)}
    assert store.remove(removed_digest)
    # The Puts' intents keep what they used for a while after them, for aborting Puts to see.
    assert collect_garbage(store, grace=0).removed == [chunk_key(orphan)]

    report = collect_garbage(store, grace=0, clock=after_the_intents)

    assert set(report.removed) == garbage - {chunk_key(orphan)}
    assert chunk_keys(store) == keys_of(store, kept_digest)
    assert report.referenced == len(keys_of(store, kept_digest)) and report.records == 1
    assert_reads_back(store, kept + shared)
    assert_clean(store)


def test_gc_keeps_unused_chunks_younger_than_the_grace_period(store: ChunkedStore) -> None:
    orphan = store.put_chunk(blob(5000, 4))
    report = collect_garbage(store, grace=3600)
    assert report.removed == [] and report.young == 1
    assert store.has(orphan)
    later = collect_garbage(store, grace=3600, clock=lambda: time.time() + 3601)
    assert later.removed == [chunk_key(orphan)]


def test_a_dry_run_removes_nothing(store: ChunkedStore) -> None:
    orphan = store.put_chunk(blob(5000, 4))
    report = collect_garbage(store, grace=0, dry_run=True)
    assert report.removed == [chunk_key(orphan)] and report.removed_bytes == 5000
    assert store.has(orphan)


def test_a_damaged_record_stops_gc_before_it_removes_anything(store: ChunkedStore) -> None:
    digest = store.put(blob(300_000, 1))
    orphan = store.put_chunk(blob(5000, 4))
    store.backend.put(record_key(digest), b"not a record")
    with pytest.raises(DataLossError, match="fsck --repair"):
        collect_garbage(store, grace=0)
    assert store.has(orphan)


def test_gc_keeps_what_an_open_put_relies_on(store: ChunkedStore) -> None:
    data = blob(BEYOND_WINDOW, 5)
    # A first Put stored the chunks and died before its record (no intents left: long ago).
    dead = store.open_write()
    dead.write(data)
    store.backend.delete(record_key(bao.hash(data)))  # (it has none anyway)
    for key in list(store.backend.keys(PENDING_PREFIX)):
        store.backend.delete(key)
    assert chunk_keys(store)  # its chunks are garbage now
    writer = store.open_write()
    writer.write(data)  # dedups against them: its intents name them

    report = collect_garbage(store, grace=0)

    assert report.pending > 0
    assert writer.close() == bao.hash(data)
    assert_reads_back(store, data)
    assert_clean(store)


def test_gc_removes_the_intents_of_puts_that_ended_long_ago(store: ChunkedStore) -> None:
    store.put(blob(300_000, 1))
    assert list(store.backend.keys(PENDING_PREFIX))  # kept a while for deleters to see
    assert collect_garbage(store, grace=0).expired_intents == 0
    later = collect_garbage(store, grace=0, clock=after_the_intents)
    assert later.expired_intents > 0
    assert list(store.backend.keys(PENDING_PREFIX)) == []


# -- aborted Puts --------------------------------------------------------------------------------


def test_an_aborted_put_removes_the_chunks_it_wrote(store: ChunkedStore) -> None:
    before = store.put(blob(300_000, 1))
    writer = store.open_write()
    writer.write(blob(BEYOND_WINDOW, 5))
    assert len(chunk_keys(store)) > len(keys_of(store, before))
    writer.abort()
    assert chunk_keys(store) == keys_of(store, before)
    assert_clean(store)


def test_an_aborted_put_keeps_the_chunks_an_open_put_relies_on(store: ChunkedStore) -> None:
    data = blob(BEYOND_WINDOW, 5)
    first, second = store.open_write(), store.open_write()
    first.write(data)  # writes the chunks
    second.write(data)  # finds them there (dedup): relies on them
    first.abort()
    assert second.close() == bao.hash(data)
    assert_reads_back(store, data)
    assert_clean(store)


def test_an_aborted_put_keeps_the_chunks_a_finished_put_used(store: ChunkedStore) -> None:
    data = blob(BEYOND_WINDOW, 5)
    first = store.open_write()
    first.write(data)
    assert store.put(data) == bao.hash(data)  # done before the first one gives up
    first.abort()
    assert_reads_back(store, data)
    assert_clean(store)


def test_a_put_waits_while_a_deleter_condemns_a_chunk_it_needs(store: ChunkedStore) -> None:
    data = blob(5000, 6)  # one chunk
    key = chunk_key(bao.hash(data))
    store.put_chunk(data)  # there, unused: what a deleter removes
    marker = f"{CONDEMNED_PREFIX}/a-deleter"
    store.backend.put(marker, encode_keys([key]))
    done = threading.Event()

    def put() -> None:
        store.put(data)
        done.set()

    thread = threading.Thread(target=put)
    thread.start()
    try:
        # A Put that did not wait would find the chunk there and rely on it: the deleter
        # would then remove it under the record.
        assert not done.wait(timeout=1.0)
    finally:
        store.backend.delete(key)  # the deleter deletes what it condemned ...
        store.backend.delete(marker)  # ... and is done
    thread.join(timeout=30)
    assert done.is_set()
    assert_reads_back(store, data)  # the Put wrote the chunk again


# -- the command ---------------------------------------------------------------------------------


def test_the_gc_command_reports_and_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = (tmp_path / "store").as_uri()
    store = ChunkedStore(file_backend(tmp_path / "store"))
    kept = store.put(blob(300_000, 1))
    orphan = store.put_chunk(blob(5000, 4))
    assert main(["gc", "--store", url, "--grace", "0", "--dry-run", "--json"]) == EXIT_OK
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["removed"] == [chunk_key(orphan)]
    assert store.has(orphan)
    assert main(["gc", "--store", url, "--grace", "0s"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "removed: 1 objects, 4.88 KiB" in out and "records:   1" in out
    assert not store.has(orphan) and store.has(kept)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gc", "--grace", "soon"], "not a duration: 'soon'"),
        (["gc", "--grace=-1h"], "not a duration: '-1h'"),
    ],
)
def test_gc_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_gc_collects_only_a_store_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(small_chunk_memory_store()) as url:
        assert main(["gc", "--store", url]) == EXIT_USAGE
    assert "gc collects a store's own objects" in capsys.readouterr().err


# -- the parts of big blobs (store format 2) -----------------------------------------------------


def parted_store(tmp_path: Path) -> ChunkedStore:
    """A file store at shift 0: 64 bytes of bao per KiB, so a blob of 2 MiB has its bao part
    (128 KiB) in an object of its own."""
    return ChunkedStore(file_backend(tmp_path / "store"), bao_shift=0, chunk_sizes=SMALL_CHUNKS)


def test_gc_keeps_the_parts_a_record_names_and_removes_orphaned_ones(tmp_path: Path) -> None:
    store = parted_store(tmp_path)
    data = blob(2 << 20, 7)
    digest = store.put(data)
    parts = {key for key in keys_of(store, digest) if key.startswith(f"{PARTS_PREFIX}/")}
    assert parts  # the bao part spilled into an object
    assert collect_garbage(store, grace=0, clock=after_the_intents).removed == []
    store.backend.delete(record_key(digest))  # a Put that died after its parts, before its record
    removed = set(collect_garbage(store, grace=0, clock=after_the_intents).removed)
    assert parts <= removed
    assert list(store.backend.keys(PARTS_PREFIX)) == []


def test_a_running_put_announces_its_parts_before_they_spill(tmp_path: Path) -> None:
    store = parted_store(tmp_path)
    writer = store.open_write()
    writer.write(blob(2 << 20, 7))  # the bao part spills: its staging file grows meanwhile
    staging = [name for name in staging_leftovers(tmp_path / "store") if "#" in name]
    assert any(name.startswith(f"{PARTS_PREFIX}/") for name in staging)
    # Two minutes on: old enough to look like a dead writer's, but its Put announced the part.
    report = collect_garbage(store, grace=0, clock=lambda: time.time() + 120)
    assert report.staging_removed == []
    digest = writer.close()
    reader = store.open_read(digest)
    assert reader is not None and reader.read() == blob(2 << 20, 7)
    assert_clean(store)
