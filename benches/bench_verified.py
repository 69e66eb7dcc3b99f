"""Issue 4 benchmark: verified reads from an untrusted gRPC server against an unverified raw Read
stream of the same blob, measured in the same run over loopback with a memory-backed server.

    python benches/bench_verified.py                     # 1 GiB, 2 GiB for peak RSS
    python benches/bench_verified.py --size 256M --rss-size 512M --shifts 4

Per shift and format: verified ``open_read`` throughput as a ratio to the raw stream (timed back
to back, each in this process: a Read stream drained vs ``read1`` pieces of a VerifiedReader),
the shift the server answered with (it coarsens a bao that would not fit 4 MiB), time to the
first verified byte, and what a 4 KiB range read across a chunk boundary fetched. Peak RSS
(VmHWM) of a client process reading a bigger blob, verified and raw, is measured in children.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from baostore.cli.arguments import argument
from baostore.grpc.client import GrpcBlobStore
from baostore.sizes import GiB, MiB, parse_size
from baostore.store.interface import BAO_FORMATS, BaoFormat, close_pieces
from baostore.verify import DEFAULT_PARALLELISM, ReadOptions, VerifiedReader

sys.path.insert(0, str(Path(__file__).parent))
from bench_grpc import serve_store

PIECE = MiB


def put_random(client: GrpcBlobStore, size: int) -> bytes:
    with client.open_write() as writer:
        remaining = size
        while remaining:
            piece = os.urandom(min(PIECE, remaining))
            writer.write(piece)
            remaining -= len(piece)
        return writer.close()


def drain_raw(client: GrpcBlobStore, digest: bytes) -> int:
    pieces = client.read_raw(digest)
    assert pieces is not None
    return sum(len(piece) for piece in pieces)


def open_reader(client: GrpcBlobStore, digest: bytes) -> VerifiedReader:
    reader = client.open_read(digest)
    assert isinstance(reader, VerifiedReader)
    return reader


def drain_verified(client: GrpcBlobStore, digest: bytes, start: int = 0) -> int:
    """Read the blob from ``start`` (0: one Read of the whole blob; else a Read per chunk)."""
    total = start
    with open_reader(client, digest) as reader:
        reader.seek(start)
        while piece := reader.read1(PIECE):
            total += len(piece)
    return total


def timed(function: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    got = function()
    seconds = time.perf_counter() - started
    if got != expected:
        raise SystemExit(f"read {got} bytes, expected {expected}")
    return seconds


def best_of_alternating(
    runs: int, first: Callable[[], int], second: Callable[[], int], expected: int
) -> tuple[float, float]:
    """The best time of each of two reads, run in turns (so both see the same machine load)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        times[0].append(timed(first, expected))
        times[1].append(timed(second, expected))
    return min(times[0]), min(times[1])


def first_byte_seconds(client: GrpcBlobStore, digest: bytes) -> tuple[float, float]:
    """Time to the first raw byte and to the first verified byte (Stat included)."""
    started = time.perf_counter()
    pieces = client.read_raw(digest)
    assert pieces is not None
    next(pieces)
    raw = time.perf_counter() - started
    close_pieces(pieces)
    started = time.perf_counter()
    with open_reader(client, digest) as reader:
        reader.read1(1)
        verified = time.perf_counter() - started
    return raw, verified


def range_read(client: GrpcBlobStore, digest: bytes) -> tuple[int, int]:
    """A 4 KiB read across the chunk boundary nearest the middle: chunks and bytes fetched."""
    chunks = client.chunks(digest) or ()
    boundary = sum(chunk.size for chunk in chunks[: len(chunks) // 2])
    with open_reader(client, digest) as reader:
        reader.seek(max(0, boundary - 2048))
        data = reader.read(4096)
        assert len(data) == 4096
        return reader.stats.chunks_fetched, reader.stats.bytes_fetched


def peak_rss_child(url: str, digest: str, mode: str, parallelism: int) -> int:
    """Run a client process that reads the blob (``raw`` or ``verified``); its VmHWM in bytes."""
    argv = [sys.executable, __file__, "--child", url, digest, mode, str(parallelism)]
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return int(output.split()[-1])


def child(url: str, digest_hex: str, mode: str, parallelism: int) -> None:
    digest = bytes.fromhex(digest_hex)
    with GrpcBlobStore.from_url(url) as client:
        client.read_options = ReadOptions(parallelism=parallelism)
        drain = drain_raw if mode == "raw" else drain_verified
        drain(client, digest)
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print(int(line.split()[1]) * 1024)


def measure(args: argparse.Namespace) -> None:
    server = serve_store("memory://")
    url = f"grpc+http://{server.address}"
    try:
        with GrpcBlobStore.from_url(url) as client:
            digest = put_random(client, args.size)
            report(client, digest, args)
            if args.rss_size:
                big = put_random(client, args.rss_size)
                raw_rss = peak_rss_child(url, big.hex(), "raw", args.parallelism)
                verified_rss = peak_rss_child(url, big.hex(), "verified", args.parallelism)
                print()
                print(f"client peak RSS (VmHWM) reading {args.rss_size / MiB:.0f} MiB, shift 4:")
                print(f"  raw Read stream   {raw_rss / MiB:8.1f} MiB")
                print(f"  verified read     {verified_rss / MiB:8.1f} MiB   (target <= 128 MiB)")
    finally:
        server.stop()


def report(client: GrpcBlobStore, digest: bytes, args: argparse.Namespace) -> None:
    size = args.size
    print(
        f"blob {size / MiB:.0f} MiB random, memory-backed server on loopback, "
        f"parallelism {args.parallelism}, {os.cpu_count()} cores"
    )
    print()
    header = (
        f"{'shift':>5} {'format':9} {'answered':>8} {'raw MiB/s':>10} {'verified':>9} "
        f"{'ratio':>6} {'per-chunk':>9} {'1st raw':>8} {'1st verif':>9} {'range chunks':>12} "
        f"{'range bytes':>11}"
    )
    print(header)
    for shift in args.shifts:
        for bao_format in args.formats:
            client.read_options = ReadOptions(
                bao_shift=shift, bao_format=bao_format, parallelism=args.parallelism
            )
            raw, verified = best_of_alternating(
                args.runs,
                lambda: drain_raw(client, digest),
                lambda: drain_verified(client, digest),
                size,
            )
            per_chunk = timed(lambda: drain_verified(client, digest, start=1), size)
            with open_reader(client, digest) as reader:
                answered = reader.layout.bao_shift
            first_raw, first_verified = first_byte_seconds(client, digest)
            chunks, fetched = range_read(client, digest)
            print(
                f"{shift:5} {bao_format:9} {answered:8} {size / MiB / raw:10.0f} "
                f"{size / MiB / verified:9.0f} {raw / verified:5.2f}x "
                f"{size / MiB / per_chunk:9.0f} {first_raw * 1e3:6.1f}ms "
                f"{first_verified * 1e3:7.1f}ms {chunks:12} {fetched:11}"
            )
    print()
    print("MiB/s: best of --runs; ratio = raw Read stream time / verified open_read time")
    print("(target >= 0.85x at shift 4); per-chunk = verified read after a seek (a Read per")
    print("chunk, as when resuming), MiB/s;")
    print("1st = time to the first byte (verified: Stat + bao check + first group);")
    print("range = a 4 KiB verified read across a chunk boundary (target <= 2 chunks)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=argument(parse_size), default=GiB, help="blob size (default 1GiB)"
    )
    parser.add_argument(
        "--rss-size",
        type=argument(parse_size),
        default=2 << 30,
        help="blob for peak RSS (default 2G; 0: skip)",
    )
    parser.add_argument(
        "--shifts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[0, 2, 4, 6, 8],
        help="comma-separated shifts (default 0,2,4,6,8)",
    )
    parser.add_argument(
        "--formats",
        type=lambda text: text.split(","),
        default=list(BAO_FORMATS),
        help="comma-separated bao formats (default both)",
    )
    parser.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM)
    parser.add_argument("--runs", type=int, default=2, help="timed runs per read (best counts)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, digest, mode, parallelism = args.child
        child(url, digest, mode, int(parallelism))
        return
    for bao_format in args.formats:
        if bao_format not in BAO_FORMATS:
            parser.error(f"unknown format {bao_format!r}")
    formats: list[BaoFormat] = args.formats
    args.formats = formats
    measure(args)


if __name__ == "__main__":
    main()
