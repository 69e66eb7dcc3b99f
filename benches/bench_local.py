"""Issue 13 benchmarks: local files (hash, verify), repairing a damaged copy, and seeds, each
against a baseline measured in the same run.

    python benches/bench_local.py                      # everything: 1 GiB files, a 256 MiB seed
    python benches/bench_local.py --only verify hash --size 256M

* ``hash``: ``baostore hash`` (in process: the command's code, and ``bao.hash_file``) against the
  PyPI ``blake3`` package hashing the same file on every core (``update_mmap``, ``AUTO``
  threads). Target: within 1.1x (ratio >= 0.91).
* ``verify``: ``check_file`` of the file against its outboard (shift 4, the default; and the bao
  CLI's shift-0 format) against single-thread ``blake3`` on the same file. Target: >= 0.9x.
  The CLI end to end (a process: interpreter start, outboard load) is shown too.
* ``repair``: a copy of a blob on a loopback ``baostore serve`` (memory store, default chunking)
  with three 4 KiB holes in different chunks (a sparse file) is completed by ``get``'s code:
  the client's read statistics must count exactly the three covering chunks.
* ``seed``: ``get --seed OLD`` of a blob that differs from OLD in three edits (an insertion, an
  overwrite, a deletion): the chunks fetched must be exactly the blob's chunks OLD lacks.

Timings are the best of ``--runs``, files are read from the page cache (written just before),
ratios are baseline time / our time (higher is better). Not a test: no thresholds enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
from baostore import bao
from baostore.cli import main
from baostore.cli.arguments import argument
from baostore.cli.fetch import SeedFiles, complete_target
from baostore.grpc.client import GrpcBlobStore
from baostore.sizes import GiB, KiB, MiB, format_size, parse_size
from baostore.store.chunked import DEFAULT_CHUNK_SIZES
from baostore.store.interface import PIECE_SIZE
from baostore.verify import Outboard, ReadOptions, check_file, fetch_layout
from baostore.verify.repair import StoreBlob
from baostore.verify.seeds import cut_points
from baostore.verify.windowed import open_checking

sys.path.insert(0, str(Path(__file__).parent))
from bench_grpc import serve_store

PARTS = ("hash", "verify", "repair", "seed")


def best(runs: int, functions: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The best time of each function, run in turns (so all see the same machine load)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: min(measured) for name, measured in times.items()}


def random_file(path: Path, size: int, seed: int) -> Path:
    generator = random.Random(seed)
    with path.open("wb") as out:
        for offset in range(0, size, PIECE_SIZE):
            out.write(generator.randbytes(min(PIECE_SIZE, size - offset)))
    return path


def rate(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:7.0f} MiB/s"


# -- hash ---------------------------------------------------------------------------------


def bench_hash(work: Path, size: int, runs: int) -> None:
    path = random_file(work / "hash.bin", size, 1)
    expected = blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(str(path)).digest()
    assert bao.hash_file(path) == expected

    def command() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["hash", str(path)]) == 0

    times = best(
        runs,
        {
            "baseline": lambda: blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(
                str(path)
            ),
            "hash_file": lambda: bao.hash_file(path),
            "command": command,
        },
    )
    baseline = times["baseline"]
    print(
        f"hash, {format_size(size)} file, {os.cpu_count()} cores (baseline: blake3, AUTO threads)"
    )
    print(f"  blake3.update_mmap, AUTO threads    {rate(size, baseline)}")
    for name, label in (("hash_file", "bao.hash_file"), ("command", "baostore hash (in process)")):
        print(f"  {label:36}{rate(size, times[name])}   {baseline / times[name]:5.2f}x")
    print("  (target: within 1.1x, a ratio >= 0.91x)")
    path.unlink()


def bench_verify(work: Path, size: int, runs: int) -> None:
    path = random_file(work / "verify.bin", size, 2)
    print(f"verify, {format_size(size)} file (baseline: blake3, one thread)")
    checks: dict[str, Callable[[], object]] = {
        "blake3.update_mmap, 1 thread": lambda: blake3.blake3(max_threads=1).update_mmap(str(path)),
        "python -c blake3 (a process)": lambda: subprocess.run(
            [sys.executable, "-c", f"import blake3; blake3.blake3().update_mmap({str(path)!r})"],
            check=True,
        ),
    }
    for label, shift, format in (("shift 4", 4, "pre_order"), ("bao CLI, shift 0", 0, "bao")):
        outboard = Outboard.of_file(path, shift, threads=os.cpu_count() or 1)
        outboard_path = work / f"verify.{format}"
        outboard_path.write_bytes(outboard.encode(format))  # type: ignore[arg-type]
        for threads in (1, None):
            name = f"check_file {label}, {'1 thread' if threads == 1 else 'threads'}"
            checks[name] = _checker(path, outboard, threads)
        command = [sys.executable, "-m", "baostore.cli", "verify", str(path)]
        command += [outboard.digest.hex(), "--outboard", str(outboard_path), "--format", format]
        checks[f"baostore verify {label} (a process)"] = _runner(command)
    times = best(runs, checks)
    baseline = times["blake3.update_mmap, 1 thread"]
    process_baseline = times["python -c blake3 (a process)"]
    for name, seconds in times.items():
        against = process_baseline if "process" in name else baseline
        print(f"  {name:40}{rate(size, seconds)}   {against / seconds:5.2f}x")
    print("  (target: >= 0.9x at the default shift 4; processes are compared with a process)")
    path.unlink()


def _checker(path: Path, outboard: Outboard, threads: int | None) -> Callable[[], object]:
    def check() -> None:
        assert check_file(path, outboard, threads=threads).complete

    return check


def _runner(command: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(command, check=True, capture_output=True)


# -- repair and seeds: a loopback server ------------------------------------------------------


@contextlib.contextmanager
def memory_server() -> Iterator[GrpcBlobStore]:
    server = serve_store("memory://")
    try:
        with GrpcBlobStore.from_url(f"grpc+http://{server.address}") as client:
            yield client
    finally:
        server.stop()


def put_file(client: GrpcBlobStore, path: Path) -> bytes:
    with path.open("rb") as source:
        return client.put(source)


def bench_repair(work: Path, size: int) -> None:
    source = random_file(work / "blob.bin", size, 3)
    with memory_server() as client:
        digest = put_file(client, source)
        layout = open_checking(client, digest, ReadOptions())
        assert layout is not None
        with StoreBlob(client, layout) as described:
            spans = described.spans(0, size)
        # Three 4 KiB holes, each in the middle of a chunk (so one chunk covers its group).
        chosen = [spans[len(spans) * k // 4] for k in (1, 2, 3)]
        holes = [(span.offset + span.size // 2) // (4 * KiB) * (4 * KiB) for span in chosen]
        damaged = work / "damaged.bin"
        with source.open("rb") as good, damaged.open("wb") as out:
            out.truncate(size)  # a sparse file: the holes are never written
            position = 0
            for hole in [*holes, size]:
                while position < hole:
                    piece = good.read(min(PIECE_SIZE, hole - position))
                    out.write(piece)
                    position += len(piece)
                position = min(size, hole + 4 * KiB)
                good.seek(position)
                out.seek(position)
        allocated = os.stat(damaged).st_blocks * 512
        print(
            f"repair, {format_size(size)} blob (memory store on loopback, "
            f"{len(spans)} chunks), 3 holes of 4 KiB ({format_size(size - allocated)} sparse)"
        )
        started = time.perf_counter()
        layout = open_checking(client, digest, ReadOptions())  # as get does: a fresh opening
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            outcome = complete_target(blob, damaged, 0, size, resume=True, note=lambda _: None)
        repair_seconds = time.perf_counter() - started
        assert outcome.stats is not None
        fetched = outcome.stats
        assert bao.hash_file(damaged) == digest
        full = work / "full.bin"
        started = time.perf_counter()
        layout = fetch_layout(client, digest, ReadOptions())  # nothing to check: as a reader
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            complete_target(blob, full, 0, size, resume=True, note=lambda _: None)
        full_seconds = time.perf_counter() - started
        covering = {span.digest for span in chosen}
        exact = set(fetched.fetched_digests) == covering and fetched.chunks_fetched == 3
        print(
            f"  chunks fetched: {fetched.chunks_fetched} ({format_size(fetched.bytes_fetched)}),"
            f" exactly the three covering chunks: {exact}; Stats (windows): "
            f"{fetched.windows_fetched}, proofs {format_size(fetched.proof_bytes)}"
        )
        print(
            f"  repair {repair_seconds:.2f} s (check {format_size(size)} in place + fetch);"
            f" full verified download {full_seconds:.2f} s"
        )
    for path in (source, damaged, full):
        path.unlink()


def edit(old: Path, new: Path, size: int) -> None:
    data = bytearray(old.read_bytes())
    del data[size * 3 // 4 : size * 3 // 4 + 1000]  # a deletion
    data[size // 2 : size // 2 + 4096] = random.Random(7).randbytes(4096)  # an overwrite
    data[size // 4 : size // 4] = b"an insertion " * 80  # an insertion
    new.write_bytes(data)


def bench_seed(work: Path, size: int) -> None:
    old = random_file(work / "old.img", size, 4)
    new = work / "new.img"
    edit(old, new, size)
    with memory_server() as client:
        digest = put_file(client, new)
        layout = open_checking(client, digest, ReadOptions())
        assert layout is not None
        with old.open("rb") as file:
            pieces = iter(lambda: file.read(PIECE_SIZE), b"")
            old_chunks = {bao.hash(chunk) for _, chunk in cut_points(pieces, DEFAULT_CHUNK_SIZES)}
        with StoreBlob(client, layout) as described:
            spans = described.spans(0, layout.size)
        edited = {span.digest for span in spans} - old_chunks
        target = work / "out.img"
        started = time.perf_counter()
        layout = fetch_layout(client, digest, ReadOptions())  # as get opens a new target
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            outcome = complete_target(
                blob,
                target,
                0,
                layout.size,
                resume=True,
                seeds=SeedFiles([old]),
                note=lambda _: None,
            )
        seconds = time.perf_counter() - started
        assert outcome.stats is not None and bao.hash_file(target) == digest
        stats = outcome.stats
        exact = set(stats.fetched_digests) == edited and stats.chunks_fetched == len(edited)
        windows = (
            f"{stats.windows_fetched} Stats (windows), proofs {format_size(stats.proof_bytes)}"
        )
        print(
            f"seed, {format_size(layout.size)} blob, OLD differs in 3 edits "
            f"({len(spans)} chunks, {len(edited)} of them not in OLD)"
        )
        print(
            f"  chunks fetched: {stats.chunks_fetched} ({format_size(stats.bytes_fetched)}),"
            f" exactly the edited ones: {exact}; {windows}"
        )
        print(
            f"  from the seed: {format_size(outcome.seeded)}; saved "
            f"{format_size(layout.size - stats.bytes_fetched)} of {format_size(layout.size)}"
            f" ({100 * (1 - stats.bytes_fetched / layout.size):.1f} %); {seconds:.2f} s"
        )
    for path in (old, new, target):
        path.unlink()


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_type = argument(parse_size)
    parser.add_argument("--size", type=size_type, default=GiB, help="file and blob size (1GiB)")
    parser.add_argument(
        "--seed-size", type=size_type, default=256 * MiB, help="seed bench (256MiB)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs, the best counts (3)")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        for part in args.only:
            if part == "hash":
                bench_hash(Path(work), args.size, args.runs)
            elif part == "verify":
                bench_verify(Path(work), args.size, args.runs)
            elif part == "repair":
                bench_repair(Path(work), args.size)
            else:
                bench_seed(Path(work), args.seed_size)
            print()


if __name__ == "__main__":
    main_bench()
