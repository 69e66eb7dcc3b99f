"""Benchmark of baostore.bao: outboard and Verifier throughput, and bao size, per shift and format.

``Verifier.check`` is the no-copy entry point for callers that keep their buffers (memoryview,
bytearray, mmap slices): the target is >= 0.95x single-thread blake3 at shift >= 4.

Every throughput is also given as a ratio to the PyPI ``blake3`` package hashing the same buffer
on one thread, measured in the same run (best of ``--repeat`` for each figure), so the ratios
hold on any machine. Not a test: run it by hand, e.g.

    .venv/bin/python benches/bench_bao.py                 # 256 MiB, shifts 0,2,4,6,8,10
    .venv/bin/python benches/bench_bao.py --markdown      # the table for README.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from baostore import bao
from blake3 import blake3
from rich.console import Console
from rich.table import Table

MIB = 1 << 20
FEED = 1 * MIB  # the Verifier is fed pieces of this size, as a network reader would
FORMATS: tuple[bao.BaoFormat, ...] = ("pre_order", "leaves")


@dataclass(frozen=True)
class Row:
    shift: int
    format: bao.BaoFormat
    bao_size: int
    outboard: float  # bytes per second
    outboard_two_threads: float
    verify: float  # fed bytes pieces, as a network reader receives them
    verify_views: float  # fed memoryview slices of one big buffer
    check_views: float  # the same views through Verifier.check (no copy: the caller keeps them)


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def verify_in_pieces(
    root: bytes, pieces: list[bytes] | list[memoryview], ob: bytes, shift: int, fmt: bao.BaoFormat
) -> None:
    size = sum(len(piece) for piece in pieces)
    verifier = bao.Verifier(root, size, ob, shift, fmt)
    released = 0
    for piece in pieces:
        released += len(verifier.update(piece))
    released += len(verifier.finalize())
    if released != size:
        raise RuntimeError(f"verifier released {released} of {size} bytes")


def check_in_pieces(
    root: bytes, pieces: list[memoryview], ob: bytes, shift: int, fmt: bao.BaoFormat
) -> None:
    size = sum(len(piece) for piece in pieces)
    verifier = bao.Verifier(root, size, ob, shift, fmt)
    verified = sum(verifier.check(piece) for piece in pieces)
    verifier.finalize()
    if verified != size:
        raise RuntimeError(f"verifier verified {verified} of {size} bytes")


def measure(data: bytes, shifts: list[int], repeat: int) -> tuple[float, list[Row]]:
    """The blake3 baseline (bytes per second) and one row per shift and format.

    Each round runs every measurement once and the best of the rounds is kept, the baseline's
    included: on a shared machine a busy moment then spoils one run of a figure, not all of them.
    """
    size = len(data)
    pieces = [data[offset : offset + FEED] for offset in range(0, size, FEED)]
    views = [memoryview(data)[offset : offset + FEED] for offset in range(0, size, FEED)]
    expected_root = blake3(data).digest()
    baos = {}
    for shift in shifts:
        for fmt in FORMATS:
            root, ob = bao.outboard(data, shift, fmt)
            if root != expected_root:
                raise RuntimeError(f"wrong root at shift {shift} ({fmt})")
            baos[shift, fmt] = ob

    def task(kind: str, shift: int, fmt: bao.BaoFormat) -> Callable[[], object]:
        ob = baos[shift, fmt]
        return {
            "outboard": lambda: bao.outboard(data, shift, fmt),
            "outboard_two_threads": lambda: bao.outboard(data, shift, fmt, threads=2),
            "verify": lambda: verify_in_pieces(expected_root, pieces, ob, shift, fmt),
            "verify_views": lambda: verify_in_pieces(expected_root, views, ob, shift, fmt),
            "check_views": lambda: check_in_pieces(expected_root, views, ob, shift, fmt),
        }[kind]

    kinds = ("outboard", "outboard_two_threads", "verify", "verify_views", "check_views")
    tasks: dict[tuple[str, int, str], Callable[[], object]] = {
        ("baseline", 0, ""): lambda: blake3(data, max_threads=1).digest()
    }
    for shift in shifts:
        for fmt in FORMATS:
            for kind in kinds:
                tasks[kind, shift, fmt] = task(kind, shift, fmt)
    fastest = dict.fromkeys(tasks, float("inf"))
    for _ in range(repeat):
        for key, work in tasks.items():
            fastest[key] = min(fastest[key], seconds(work))
    rates = {key: size / elapsed for key, elapsed in fastest.items()}
    rows = [
        Row(
            shift=shift,
            format=fmt,
            bao_size=len(baos[shift, fmt]),
            outboard=rates["outboard", shift, fmt],
            outboard_two_threads=rates["outboard_two_threads", shift, fmt],
            verify=rates["verify", shift, fmt],
            verify_views=rates["verify_views", shift, fmt],
            check_views=rates["check_views", shift, fmt],
        )
        for shift in shifts
        for fmt in FORMATS
    ]
    return rates["baseline", 0, ""], rows


def rate_cell(rate: float, baseline: float) -> str:
    return f"{rate / 1e9:.2f} GB/s ({rate / baseline:.2f}x)"


def size_cell(bao_size: int, size: int) -> str:
    return f"{bao_size:,} B ({100 * bao_size / size:.3f} %)"


HEADERS = (
    "shift",
    "format",
    "bao size",
    "outboard",
    "outboard, 2 threads",
    "Verifier, 1 MiB bytes",
    "Verifier, 1 MiB views",
    "Verifier.check, 1 MiB views",
)


def cells(row: Row, baseline: float, size: int) -> tuple[str, ...]:
    return (
        str(row.shift),
        row.format,
        size_cell(row.bao_size, size),
        rate_cell(row.outboard, baseline),
        rate_cell(row.outboard_two_threads, baseline),
        rate_cell(row.verify, baseline),
        rate_cell(row.verify_views, baseline),
        rate_cell(row.check_views, baseline),
    )


def print_markdown(baseline: float, rows: list[Row], size: int) -> None:
    print(f"Baseline: `blake3` (PyPI) single thread, {baseline / 1e9:.2f} GB/s = 1.00x.\n")
    print("| " + " | ".join(HEADERS) + " |")
    print("|" + "|".join("---" for _ in HEADERS) + "|")
    for row in rows:
        print("| " + " | ".join(cells(row, baseline, size)) + " |")


def print_table(baseline: float, rows: list[Row], size: int) -> None:
    table = Table(
        title=f"baostore.bao on {size // MIB} MiB, {os.cpu_count()} CPUs "
        f"(ratios to blake3 single thread: {baseline / 1e9:.2f} GB/s)"
    )
    for header in HEADERS:
        table.add_column(header, justify="right" if header != "format" else "left")
    for row in rows:
        table.add_row(*cells(row, baseline, size))
    Console(width=190).print(table)


def measure_file_hashing(size: int, repeat: int) -> list[tuple[str, float, float]]:
    """``bao.hash_file`` against the PyPI ``blake3`` package's ``update_mmap`` on the same file,
    on all cores and on one: (label, ours, theirs) in bytes per second, best of ``repeat``."""
    with tempfile.NamedTemporaryFile(prefix="bench-hash-file-") as file:
        for _ in range(size // (64 * MIB)):
            file.write(os.urandom(64 * MIB))
        file.write(os.urandom(size % (64 * MIB)))
        file.flush()
        path = file.name
        expected = blake3(max_threads=blake3.AUTO).update_mmap(path).digest()
        if bao.hash_file(path) != expected:
            raise RuntimeError("hash_file disagrees with blake3")
        tasks: dict[str, Callable[[], object]] = {
            "ours, all cores": lambda: bao.hash_file(path),
            "theirs, all cores": lambda: blake3(max_threads=blake3.AUTO).update_mmap(path),
            "ours, 1 thread": lambda: bao.hash_file(path, 1),
            "theirs, 1 thread": lambda: blake3().update_mmap(path),
        }
        fastest = dict.fromkeys(tasks, float("inf"))
        for _ in range(repeat):
            for key, work in tasks.items():
                fastest[key] = min(fastest[key], seconds(work))
    return [
        (label, size / fastest[f"ours, {label}"], size / fastest[f"theirs, {label}"])
        for label in ("all cores", "1 thread")
    ]


def print_file_hashing(rows: list[tuple[str, float, float]], size: int) -> None:
    print(f"\nhash_file on a {size // MIB} MiB file (page cache warm), {os.cpu_count()} CPUs:")
    for label, ours, theirs in rows:
        print(
            f"  {label}: bao.hash_file {ours / 1e9:.2f} GB/s, blake3 update_mmap "
            f"{theirs / 1e9:.2f} GB/s = {ours / theirs:.2f}x (target >= 0.91x, i.e. within 1.1x)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256, help="buffer size in MiB (default 256)")
    parser.add_argument(
        "--shifts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[0, 2, 4, 6, 8, 10],
        help="comma-separated shifts (default 0,2,4,6,8,10)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds of every measurement, best kept (default 5)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument(
        "--file-size",
        type=int,
        default=1024,
        help="size in MiB of the file hash_file is measured on (default 1024; 0 skips it)",
    )
    args = parser.parse_args()
    if args.size < 1 or args.repeat < 1:
        parser.error("--size and --repeat must be at least 1")
    for shift in args.shifts:
        if not 0 <= shift <= bao.MAX_SHIFT:
            parser.error(f"shift {shift} is out of range 0..{bao.MAX_SHIFT}")
    return args


def main() -> None:
    args = parse_args()
    data = os.urandom(args.size * MIB)
    baseline, rows = measure(data, args.shifts, args.repeat)
    if args.markdown:
        print_markdown(baseline, rows, len(data))
    else:
        print_table(baseline, rows, len(data))
    del data
    if args.file_size > 0:
        file_size = args.file_size * MIB
        print_file_hashing(measure_file_hashing(file_size, args.repeat), file_size)


if __name__ == "__main__":
    main()
