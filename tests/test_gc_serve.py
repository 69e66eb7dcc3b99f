"""Garbage collection next to a real ``baostore serve`` on a file store: Puts that are refused or
cancelled give their space back, and gc running while Puts run loses nothing acknowledged."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.sizes import MiB
from baostore.store.chunked import DEFAULT_CHUNK_SIZES, ChunkedStore, chunk_key
from baostore.store.fsck import check_store
from baostore.store.gc import collect_garbage
from baostore.store.interface import StoreError
from baostore.store.objects import file_backend

from tests.support.serve_process import serve_process

# gc and the server's Puts run this long side by side.
RUN_SECONDS = 4.0
WRITERS = 3


def chunk_keys(store: ChunkedStore) -> set[str]:
    return {chunk_key(digest) for digest in store.chunk_digests()}


def eventually(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Whether ``condition`` holds within ``seconds`` (the server cleans up in a thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_refused_and_cancelled_puts_give_their_space_back(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = ChunkedStore(file_backend(directory))
    with (
        serve_process(directory.as_uri(), "--max-blob-size", "12M") as (_, address),
        GrpcBlobStore.from_url(f"grpc+http://{address}") as client,
    ):
        kept_data = os.urandom(3 * MiB)
        kept = client.put(kept_data)
        record = store.read_record(kept)
        assert record is not None
        kept_keys = set(store.record_object_keys(kept, record))

        def given_back() -> bool:
            return chunk_keys(store) == kept_keys

        for _ in range(2):  # refused once past 12M: ~10 MiB of its chunks were stored
            with pytest.raises(StoreError, match="RESOURCE_EXHAUSTED"):
                client.put(os.urandom(16 * MiB))
            assert eventually(given_back), "a refused Put kept its chunks"
        for _ in range(2):  # cancelled once the server stored some of its chunks
            writer = client.open_write()
            writer.write(os.urandom(11 * MiB))
            assert eventually(lambda: len(chunk_keys(store)) > len(kept_keys))
            writer.abort()
            assert eventually(given_back), "a cancelled Put kept its chunks"
        reader = client.open_read(kept)
        assert reader is not None and reader.read() == kept_data
    assert not check_store(store).corrupt


def test_gc_while_puts_run_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Puts dedup against chunks nobody uses (as a chunk cache leaves them) while gc, with no
    grace period at all, keeps removing exactly such chunks: the most dangerous interleaving."""
    directory = tmp_path / "store"
    local = ChunkedStore(file_backend(directory))
    acknowledged: dict[bytes, bytes] = {}
    failures: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def blob_for(number: int) -> bytes:
        return random.Random(number).randbytes(random.Random(-number).randint(MiB, 2 * MiB))

    def seed_orphans(data: bytes) -> None:
        sizes = DEFAULT_CHUNK_SIZES
        offset = 0
        for length in bao.cdc_cut_lengths(data, sizes.min, sizes.avg, sizes.max, True):
            local.put_chunk(data[offset : offset + length])
            offset += length

    def write(first: int, url: str) -> None:
        try:
            with GrpcBlobStore.from_url(url) as client:
                number = first
                while not stop.is_set():
                    data = blob_for(number)
                    seed_orphans(data)  # unused chunks, there before the Put looks for them
                    digest = client.put(data)
                    with lock:
                        acknowledged[digest] = data
                    number += WRITERS
        except BaseException as error:
            failures.append(error)

    # At shift 0 the bao of a blob of 1-2 MiB (64-128 KiB) often spills into a part object of
    # its own: parts are written and announced as the Puts stream too.
    with serve_process(f"{directory.as_uri()}?bao_shift=0") as (_, address):
        url = f"grpc+http://{address}"
        threads = [threading.Thread(target=write, args=(n, url)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        removed = 0
        try:
            deadline = time.monotonic() + RUN_SECONDS
            while time.monotonic() < deadline:
                removed += len(collect_garbage(local, grace=0).removed)
            command = [sys.executable, "-m", "baostore.cli", "gc", "--grace", "0", "--json"]
            result = subprocess.run(
                [*command, "--store", directory.as_uri()],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
            removed += len(json.loads(result.stdout)["removed"])
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
    assert not failures, failures
    assert acknowledged and removed  # Puts went on, and gc did remove orphans meanwhile
    assert list(local.part_keys())  # some blobs have parts of their own
    for digest, data in acknowledged.items():
        reader = local.open_read(digest)
        assert reader is not None, digest.hex()
        with reader:
            assert reader.read() == data
    report = check_store(local)
    assert not report.corrupt, (report.broken_records, report.corrupt_chunks)
