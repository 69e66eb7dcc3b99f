"""Load test: many concurrent clients mixing put/get/range/stat against one `baostore serve`.

    python benches/load_test.py                      # 32 clients, 60 s
    python benches/load_test.py --seconds 10 --clients 8

The server runs as its own process on a file store in a temporary directory. Each client thread
has its own channel and loops until time is up, choosing an operation at random:

* put   a fresh random blob (1 B .. 8 MiB, mostly small), or again one already stored (dedup);
        the digest must be the BLAKE3 of the bytes sent;
* get   a stored blob whole through ``open_read`` (verified) and hash it again;
* range a random byte range of a stored blob through ``open_read`` + seek (verified);
* stat  with the bao at a random shift, checked against the digest by a ``bao.Verifier``.

Every failure counts as an error, and the run fails (exit 1) if there is any. The server's
resident memory (VmRSS) is sampled all along; the report gives requests/s, MB/s moved and the
RSS range, and fails the run if the peak exceeds --max-rss.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.sizes import MiB

OPERATIONS = ("put", "get", "range", "stat")
WEIGHTS = (3, 2, 3, 2)
KNOWN_BLOBS_KEPT = 2000  # digests remembered for reads (a bounded, shared list)
RSS_SAMPLE_INTERVAL = 0.25
SERVE_COMMAND = (sys.executable, "-m", "baostore.cli", "serve")


@dataclass
class LoadResult:
    seconds: float
    requests: Counter[str] = field(default_factory=Counter)
    bytes_moved: int = 0
    errors: list[str] = field(default_factory=list)
    rss_samples: list[int] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def lines(self) -> list[str]:
        peak = max(self.rss_samples, default=0)
        settled = self.rss_samples[len(self.rss_samples) // 4 :] or [0]
        return [
            f"duration      {self.seconds:.1f} s",
            "requests      "
            + ", ".join(f"{op} {self.requests[op]}" for op in OPERATIONS)
            + f"  (total {self.total_requests})",
            f"throughput    {self.total_requests / self.seconds:.1f} requests/s, "
            f"{self.bytes_moved / MiB / self.seconds:.1f} MiB/s "
            f"({self.bytes_moved / MiB:.0f} MiB moved)",
            f"server RSS    peak {peak / MiB:.0f} MiB; after warm-up "
            f"{min(settled) / MiB:.0f}..{max(settled) / MiB:.0f} MiB "
            f"({len(self.rss_samples)} samples)",
            f"errors        {len(self.errors)}",
            *(f"  {error}" for error in self.errors[:10]),
        ]


class KnownBlobs:
    """Digests and sizes of stored blobs, shared by all clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: list[tuple[bytes, int]] = []

    def add(self, digest: bytes, size: int) -> None:
        with self._lock:
            if len(self._blobs) >= KNOWN_BLOBS_KEPT:
                self._blobs[random.randrange(KNOWN_BLOBS_KEPT)] = (digest, size)
            else:
                self._blobs.append((digest, size))

    def pick(self, rng: random.Random) -> tuple[bytes, int] | None:
        with self._lock:
            return rng.choice(self._blobs) if self._blobs else None


def blob_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.6:
        return rng.randrange(1, 64 << 10)
    if roll < 0.95:
        return rng.randrange(64 << 10, 2 * MiB)
    return rng.randrange(2 * MiB, 8 * MiB)


class Client:
    """One client: its own channel, its own random stream, its own tally."""

    def __init__(self, url: str, seed: int, known: KnownBlobs, deadline: float) -> None:
        self.store = GrpcBlobStore.from_url(url)
        self.rng = random.Random(seed)
        self.known = known
        self.deadline = deadline
        self.requests: Counter[str] = Counter()
        self.bytes_moved = 0
        self.errors: list[str] = []
        self.recent: list[bytes] = []  # a few of this client's blobs, to put again

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                operation = self.rng.choices(OPERATIONS, WEIGHTS)[0]
                target = self.known.pick(self.rng)
                if target is None:
                    operation = "put"
                try:
                    getattr(self, f"_{operation}")(target)
                    self.requests[operation] += 1
                except Exception as error:
                    self.errors.append(f"{operation}: {type(error).__name__}: {error}")
        finally:
            self.store.close()

    def _put(self, target: tuple[bytes, int] | None) -> None:
        del target
        if self.recent and self.rng.random() < 0.1:
            data = self.rng.choice(self.recent)
        else:
            data = self.rng.randbytes(blob_size(self.rng))
            if len(data) <= 256 << 10:
                self.recent = [*self.recent[-7:], data]
        digest = self.store.put(data)
        if digest != bao.hash(data):
            raise AssertionError(f"put answered {digest.hex()}, not the blob's digest")
        self.bytes_moved += len(data)
        self.known.add(digest, len(data))

    def _get(self, target: tuple[bytes, int] | None) -> None:
        assert target is not None
        digest, size = target
        reader = self.store.open_read(digest)
        if reader is None:
            raise AssertionError(f"stored blob {digest.hex()} not found")
        with reader:
            data = reader.read()
        if len(data) != size or bao.hash(data) != digest:
            raise AssertionError(f"get of {digest.hex()} returned other bytes")
        self.bytes_moved += size

    def _range(self, target: tuple[bytes, int] | None) -> None:
        assert target is not None
        digest, size = target
        start = self.rng.randrange(size) if size else 0
        length = min(size - start, self.rng.randrange(1, 256 << 10))
        reader = self.store.open_read(digest)
        if reader is None:
            raise AssertionError(f"stored blob {digest.hex()} not found")
        with reader:
            reader.seek(start)
            data = reader.read(length)
        if len(data) != length:
            raise AssertionError(f"range read of {digest.hex()} returned {len(data)} bytes")
        self.bytes_moved += length

    def _stat(self, target: tuple[bytes, int] | None) -> None:
        assert target is not None
        digest, size = target
        shift = self.rng.choice((0, 2, 4, 6, 8))
        stat = self.store.stat(digest, send_chunks=True, send_bao=True, bao_shift=shift)
        if stat is None or stat.size != size:
            raise AssertionError(f"stat of {digest.hex()} is wrong: {stat}")
        bao.Verifier(digest, stat.size, stat.bao, stat.bao_shift, stat.bao_format)  # checks it


def vm_rss(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


@contextmanager
def serve(store_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [*SERVE_COMMAND, "--store", store_url, "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"serving \S+ on (\S+)", line)
        if match is None:
            raise RuntimeError(f"baostore serve did not start: {line!r}")
        yield process, f"grpc+http://{match.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_load(seconds: float, clients: int, store_url: str | None = None) -> LoadResult:
    """Run the load for ``seconds`` with ``clients`` threads against a fresh server."""
    with tempfile.TemporaryDirectory(prefix="baostore-load-") as directory:
        url = store_url or Path(directory, "store").as_uri()
        with serve(url) as (process, server_url):
            known = KnownBlobs()
            started = time.monotonic()
            deadline = started + seconds
            workers = [Client(server_url, seed, known, deadline) for seed in range(clients)]
            threads = [threading.Thread(target=worker.run) for worker in workers]
            for thread in threads:
                thread.start()
            result = LoadResult(seconds=seconds)
            while any(thread.is_alive() for thread in threads):
                rss = vm_rss(process.pid)
                if rss is not None:
                    result.rss_samples.append(rss)
                time.sleep(RSS_SAMPLE_INTERVAL)
            for thread in threads:
                thread.join()
            result.seconds = time.monotonic() - started
            if process.poll() is not None:
                result.errors.append(f"the server exited with status {process.returncode}")
    for worker in workers:
        result.requests.update(worker.requests)
        result.bytes_moved += worker.bytes_moved
        result.errors.extend(worker.errors)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="client threads (default 32)")
    parser.add_argument("--store", metavar="URL", help="serve this store (default: a temp dir)")
    parser.add_argument(
        "--max-rss", type=int, default=1024, metavar="MiB", help="fail above this server RSS"
    )
    args = parser.parse_args(argv)
    print(f"load: {args.clients} clients for {args.seconds:g} s, cpus {os.cpu_count()}")
    result = run_load(args.seconds, args.clients, args.store)
    print("\n".join(result.lines()))
    peak = max(result.rss_samples, default=0)
    if peak > args.max_rss * MiB:
        print(f"FAIL: server RSS peaked at {peak / MiB:.0f} MiB > {args.max_rss} MiB")
        return 1
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
