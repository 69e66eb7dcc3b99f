"""Issue 5 benchmark: reading a blob through a warm cache tier vs reading the near store directly,
measured in the same run (target: the cache tier within 1.1x of near). For scale it also times
the cold read (near misses; far is a loopback gRPC server, every byte verified, near filled).

    python benches/bench_cache.py                 # 256 MiB, near = file store
    python benches/bench_cache.py --size 64M --near memory --repeat 7

Each warm measurement reads the whole blob in 1 MiB pieces; the two ways alternate and the best
of ``--repeat`` runs of each is compared, which keeps a busy machine's noise out of the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from baostore import bao
from baostore.cli.arguments import argument
from baostore.compose.cache import CacheStore
from baostore.grpc.client import GrpcBlobStore
from baostore.sizes import MiB, parse_size
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import BlobReader, BlobStore
from baostore.store.objects import file_backend, memory_backend

TARGET = 1.1


@contextlib.contextmanager
def far_server() -> Iterator[str]:
    """``baostore serve --store memory://`` in its own process; yields its URL."""
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", "memory://"]
    server = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        announcement = server.stderr.readline()
        match = re.search(r" on (\S+:\d+)", announcement)
        if match is None:
            raise RuntimeError(f"the far server did not start: {announcement!r}")
        yield f"grpc+http://{match.group(1)}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def read_through(open_reader: Callable[[], BlobReader | None], size: int) -> float:
    """Seconds to read the whole blob in 1 MiB pieces."""
    start = time.perf_counter()
    reader = open_reader()
    assert reader is not None
    got = 0
    with reader:
        while piece := reader.read(MiB):
            got += len(piece)
    elapsed = time.perf_counter() - start
    assert got == size, (got, size)
    return elapsed


def run(size: int, near_kind: str, repeat: int, work: Path) -> None:
    near: BlobStore = (
        ChunkedStore(memory_backend())
        if near_kind == "memory"
        else ChunkedStore(file_backend(work / "near"))
    )
    print(f"blob: {size / MiB:.0f} MiB random; near: {near_kind} store; far: loopback gRPC server")
    with far_server() as far_url, GrpcBlobStore.from_url(far_url) as far:
        data = os.urandom(size)
        digest = far.put(data)
        assert digest == bao.hash(data)
        del data
        tier = CacheStore(near, far)
        cold = read_through(lambda: tier.open_read(digest), size)
        assert tier.fills == 1 and near.has(digest), "the cold read must fill near"
        direct_times, tier_times = [], []
        for _ in range(repeat):
            direct_times.append(read_through(lambda: near.open_read(digest), size))
            tier_times.append(read_through(lambda: tier.open_read(digest), size))
    direct, warm = min(direct_times), min(tier_times)
    print()
    print(f"{'':34}{'seconds':>9}{'MiB/s':>9}{'ratio':>8}")
    for label, seconds in (
        ("near store directly (baseline)", direct),
        ("warm cache tier", warm),
        ("cold cache tier (verify + fill)", cold),
    ):
        print(f"{label:34}{seconds:9.3f}{size / MiB / seconds:9.0f}{seconds / direct:7.2f}x")
    print()
    ratio = warm / direct
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"warm cache tier / near directly = {ratio:.3f}x ({verdict} the {TARGET}x target)")
    print(f"(best of {repeat} alternating runs each; ratio = time / near-direct time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=argument(parse_size), default=256 * MiB, help="blob size (256MiB)"
    )
    parser.add_argument("--near", choices=("file", "memory"), default="file")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each warm read (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as work:
        run(args.size, args.near, max(1, args.repeat), Path(work))


if __name__ == "__main__":
    main()
