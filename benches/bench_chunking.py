"""Choose the chunked store's default chunk sizes: dedup on edited data, record size, put speed.

For each candidate average chunk size (min = avg/4, max = min(4 x avg, 4 MiB)) this stores a
random base blob and a few edited versions of it (insertions and deletions at random places, each
version editing the previous one) in a memory store, and prints:

* new bytes per version: bytes of chunks a version adds beyond what the store already held
  (the ideal is about one chunk per edit; lower is better);
* dedup ratio: logical bytes of all versions / bytes of distinct chunks stored;
* chunks in the base and its record size (the record also holds the shift-4 bao);
* put time of the base as a ratio to plain BLAKE3 hashing of the same bytes, timed in this run.

``--rss-gib N`` also streams an N GiB blob into a file store with the default sizes in a child
process and prints its peak RSS (the writer must not hold the blob).

Run: ``.venv/bin/python benches/bench_chunking.py`` (about 10 s on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from baostore import bao
from baostore.sizes import MiB
from baostore.store.chunked import (
    DEFAULT_CHUNK_SIZES,
    MAX_CHUNK_SIZE_LIMIT,
    ChunkedStore,
    ChunkSizes,
    record_key,
)
from baostore.store.objects import file_backend, memory_backend

CANDIDATE_AVERAGES = (256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20)


def candidate_sizes(average: int) -> ChunkSizes:
    return ChunkSizes(min=average // 4, avg=average, max=min(4 * average, MAX_CHUNK_SIZE_LIMIT))


def edit(data: bytes, rng: random.Random, edits: int) -> bytes:
    """``data`` with ``edits`` insertions and as many deletions (1 B .. 4 KiB) at random places."""
    out = bytearray(data)
    for _ in range(edits):
        at = rng.randrange(len(out))
        out[at:at] = rng.randbytes(rng.randint(1, 4096))
        at = rng.randrange(len(out) - 4096)
        del out[at : at + rng.randint(1, 4096)]
    return bytes(out)


def best_of(repeats: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def measure(sizes: ChunkSizes, versions: list[bytes], hash_seconds: float) -> str:
    store = ChunkedStore(memory_backend(), chunk_sizes=sizes)
    seen: set[bytes] = set()
    new_bytes = []
    for version in versions:
        chunks = store.chunks(store.put(version)) or ()
        fresh = {chunk.digest: chunk.size for chunk in chunks if chunk.digest not in seen}
        new_bytes.append(sum(fresh.values()))
        seen.update(fresh)
    stored = sum(new_bytes)
    logical = sum(len(v) for v in versions)
    base_digest = bao.hash(versions[0])
    base_chunks = len(store.chunks(base_digest) or ())
    record_size = len(store.backend.get(record_key(base_digest)) or b"")
    put_seconds = best_of(
        2, lambda: ChunkedStore(memory_backend(), chunk_sizes=sizes).put(versions[0])
    )
    edits_new = ", ".join(f"{n / MiB:5.2f}" for n in new_bytes[1:])
    return (
        f"avg {sizes.avg >> 10:5d} KiB (min {sizes.min >> 10:4d}, max {sizes.max >> 10:4d}) | "
        f"new MiB per version [{edits_new}] | dedup {logical / stored:5.2f}x | "
        f"{base_chunks:4d} chunks, record {record_size / 1024:6.1f} KiB | "
        f"put {put_seconds / hash_seconds:4.2f}x hash"
    )


def peak_rss_of_put(gib: int) -> None:
    """Child process: stream ``gib`` GiB into a fresh file store, print peak RSS."""
    piece = random.Random(1).randbytes(MiB)
    with tempfile.TemporaryDirectory() as directory:
        store = ChunkedStore(file_backend(directory), chunk_sizes=DEFAULT_CHUNK_SIZES)
        before = peak_rss_mib()
        start = time.perf_counter()
        with store.open_write() as writer:
            for index in range(gib * 1024):
                # Vary each piece so chunks do not all dedup into one.
                writer.write(index.to_bytes(8, "little") + piece[8:])
            writer.close()
        seconds = time.perf_counter() - start
        after = peak_rss_mib()
    print(
        f"put {gib} GiB to a file store: peak RSS {after:.0f} MiB "
        f"(before the put {before:.0f} MiB), {gib * 1024 / seconds:.0f} MiB/s"
    )


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-mib", type=int, default=64, help="size of the base blob")
    parser.add_argument("--versions", type=int, default=3, help="edited versions after the base")
    parser.add_argument("--edits", type=int, default=4, help="insertions+deletions per version")
    parser.add_argument("--rss-gib", type=int, default=0, help="also measure RSS of an N GiB put")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        peak_rss_of_put(args.rss_child)
        return

    rng = random.Random(2026)
    versions = [rng.randbytes(args.base_mib * MiB)]
    for _ in range(args.versions):
        versions.append(edit(versions[-1], rng, args.edits))
    hash_seconds = best_of(3, lambda: bao.hash(versions[0]))
    print(
        f"base {args.base_mib} MiB + {args.versions} versions x {args.edits} insertions and "
        f"{args.edits} deletions; plain hash {args.base_mib / hash_seconds:.0f} MiB/s"
    )
    for average in CANDIDATE_AVERAGES:
        print(measure(candidate_sizes(average), versions, hash_seconds), flush=True)
    print(f"default: {DEFAULT_CHUNK_SIZES}")
    if args.rss_gib:
        subprocess.run([sys.executable, __file__, "--rss-child", str(args.rss_gib)], check=True)


if __name__ == "__main__":
    main()
