"""Benchmark of baostore.bao: outboard and Verifier throughput, and bao size, per shift and format.

Every throughput is also given as a ratio to the PyPI ``blake3`` package hashing the same buffer
on one thread, measured in the same run (best of ``--repeat`` for each figure), so the ratios
hold on any machine. Not a test: run it by hand, e.g.

    .venv/bin/python benches/bench_bao.py                 # 256 MiB, shifts 0,2,4,6,8,10
    .venv/bin/python benches/bench_bao.py --markdown      # the table for README.md
"""

from __future__ import annotations

import argparse
import os
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


def best_rate(work: Callable[[], object], size: int, repeat: int) -> float:
    """Bytes per second of the fastest of ``repeat`` runs of ``work`` over ``size`` bytes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return size / best


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


def measure(data: bytes, shifts: list[int], repeat: int) -> tuple[float, list[Row]]:
    """The blake3 baseline (bytes per second) and one row per shift and format."""
    size = len(data)
    pieces = [data[offset : offset + FEED] for offset in range(0, size, FEED)]
    views = [memoryview(data)[offset : offset + FEED] for offset in range(0, size, FEED)]

    def blake3_single_thread() -> None:
        blake3(data, max_threads=1).digest()

    # Re-measured before every shift and the best kept, so a busy moment does not flatter us.
    baseline = 0.0
    rows = []
    for shift in shifts:
        baseline = max(baseline, best_rate(blake3_single_thread, size, repeat))
        for fmt in FORMATS:
            root, ob = bao.outboard(data, shift, fmt)
            if root != blake3(data).digest():
                raise RuntimeError(f"wrong root at shift {shift} ({fmt})")
            rows.append(
                Row(
                    shift=shift,
                    format=fmt,
                    bao_size=len(ob),
                    outboard=best_rate(lambda: bao.outboard(data, shift, fmt), size, repeat),  # noqa: B023
                    outboard_two_threads=best_rate(
                        lambda: bao.outboard(data, shift, fmt, threads=2),  # noqa: B023
                        size,
                        repeat,
                    ),
                    verify=best_rate(
                        lambda: verify_in_pieces(root, pieces, ob, shift, fmt),  # noqa: B023
                        size,
                        repeat,
                    ),
                    verify_views=best_rate(
                        lambda: verify_in_pieces(root, views, ob, shift, fmt),  # noqa: B023
                        size,
                        repeat,
                    ),
                )
            )
    return baseline, rows


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
    Console(width=160).print(table)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256, help="buffer size in MiB (default 256)")
    parser.add_argument(
        "--shifts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[0, 2, 4, 6, 8, 10],
        help="comma-separated shifts (default 0,2,4,6,8,10)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
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


if __name__ == "__main__":
    main()
