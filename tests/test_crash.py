"""Crash consistency: kill -9 a file-store server in the middle of many concurrent puts.

After a restart on the same directory every acknowledged blob must read back and verify, and no
record may point at a missing chunk (fsck finds no damage; chunks of puts that were cut short may
be left over, reported as unreferenced).

A kill -9 loses nothing the kernel already holds (the page cache survives the process), so this
checks the write order (chunks, then the record, each an atomic rename), not durability across a
power cut: obstore's local store does not fsync.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import ChunkedStore
from baostore.store.fsck import check_store
from baostore.store.objects import file_backend
from baostore.verify import open_verified

from tests.support.serve_process import serve_process

WRITERS = 8
MAX_BLOB = 3 << 20  # several default (512 KiB average) chunks
RUN_BEFORE_KILL = 1.5  # seconds of puts before the kill
MIN_ACKNOWLEDGED = 8


@contextmanager
def serving(store_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with serve_process(store_dir.as_uri()) as (process, address):
        yield process, f"grpc+http://{address}"


class Writers:
    """Threads putting distinct random blobs until their server goes away."""

    def __init__(self, url: str) -> None:
        self.acknowledged: dict[bytes, int] = {}  # digest -> size
        self.failed = 0
        self.wrong_digests = 0
        self._lock = threading.Lock()
        self._store = GrpcBlobStore.from_url(url)
        self._threads = [
            threading.Thread(target=self._run, args=(seed,), daemon=True) for seed in range(WRITERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a writer hung after the server died"
        self._store.close()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        while True:
            data = rng.randbytes(rng.choice((rng.randrange(1, 64 << 10), rng.randrange(MAX_BLOB))))
            try:
                digest = self._store.put(data)
            except Exception:
                with self._lock:
                    self.failed += 1
                return
            with self._lock:
                if digest == bao.hash(data):
                    self.acknowledged[digest] = len(data)
                else:
                    self.wrong_digests += 1


def test_acknowledged_puts_survive_a_kill_9(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with serving(store_dir) as (process, url):
        writers = Writers(url)
        writers.start()
        deadline = time.monotonic() + 30
        started = time.monotonic()
        while time.monotonic() < deadline and (
            len(writers.acknowledged) < MIN_ACKNOWLEDGED
            or time.monotonic() - started < RUN_BEFORE_KILL
        ):
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=10)
        writers.join()
    assert writers.wrong_digests == 0
    assert len(writers.acknowledged) >= MIN_ACKNOWLEDGED
    assert writers.failed == WRITERS  # every writer was cut off mid-put

    with serving(store_dir) as (_, url), GrpcBlobStore.from_url(url) as store:
        for digest, size in writers.acknowledged.items():
            reader = open_verified(store, digest)
            assert reader is not None, f"acknowledged blob {digest.hex()} is gone"
            with reader:
                data = reader.read()
            assert len(data) == size
            assert bao.hash(data) == digest

    report = check_store(ChunkedStore(file_backend(store_dir)))
    assert not report.corrupt, report.to_json()
    assert report.records_checked >= len(writers.acknowledged)
