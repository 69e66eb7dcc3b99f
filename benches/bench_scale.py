"""Issue 10 benchmark: how reads scale with the blob when Stat answers windows (no size ceiling).

    python benches/bench_scale.py                                  # quick: up to 1 GiB
    python benches/bench_scale.py --sizes 1M,1G,8G --rss           # the issue's sizes (slow)
    python benches/bench_scale.py --sizes 64G --shifts 4 --range-sizes "" --rss   # 64 GiB

Two ``baostore serve`` processes over file stores on this machine (loopback TCP): one with 4 KiB
chunks (``?chunk_avg=4KiB``) for the range reads, one with the default chunking for whole reads.
Blobs are random and streamed in, never held whole in memory. For each size and shift:

* range: a 4 KiB verified range read (``seek`` + ``read`` after ``limit_readahead``, as
  ``baostore get --range`` reads) at the blob's middle and end: the Stat answers' bytes (both
  Stats of the read: the opening window and the range's, re-encoded exactly as the server sent
  them), the chunk bytes fetched, all bytes transferred, and its time as a ratio to the same
  read of a 1 MiB blob in the same run (the first size of ``--range-sizes``);
* whole: time to the first verified byte, and verified throughput (``read1`` pieces of
  ``open_read``) as a ratio to draining the raw Read stream of the same blob, best of
  ``--runs`` run in turns.

With ``--rss``: the server's peak RSS (VmHWM) after it took the Puts (file store: nothing is
kept in memory but the Put's buffers) and a client's peak RSS for ``baostore get`` of the
largest blob, verified at shift 4 (a child process). 64 GiB needs ~70 GB of free disk in the
temporary directory (``--tmp``) and about an hour here.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from baostore.cli.arguments import argument
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.convert import stat_to_response
from baostore.sizes import KiB, MiB, format_size, parse_size
from baostore.store.interface import ByteRange
from baostore.verify import ReadOptions, VerifiedReader, open_verified

sys.path.insert(0, str(Path(__file__).parent))
from bench_grpc import serve_store
from bench_verified import drain_raw, first_byte_seconds, put_random, timed

PIECE = MiB
RANGE = 4 * KiB


def sizes_argument(text: str) -> list[int]:
    return [parse_size(part) for part in text.split(",") if part]


def peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * KiB


@dataclass(frozen=True)
class RangeRead:
    stat_bytes: int
    chunk_bytes: int
    seconds: float

    @property
    def total(self) -> int:
        return self.stat_bytes + self.chunk_bytes


def range_read(
    client: GrpcBlobStore, digest: bytes, size: int, offset: int, shift: int
) -> RangeRead:
    """A 4 KiB verified range read at ``offset``: what its Stats and chunks cost, and its time."""
    options = ReadOptions(bao_shift=shift)
    end = min(offset + RANGE, size)
    started = time.perf_counter()
    reader = open_verified(client, digest, options)
    assert reader is not None
    with reader:
        reader.limit_readahead(end)
        reader.seek(offset)
        data = reader.read(end - offset)
        seconds = time.perf_counter() - started
        assert len(data) == end - offset
        stats = reader.stats
    # The two Stats the read made, asked again to weigh their answers as the server sent them.
    stat_bytes = 0
    group = 1024 << shift
    asked = [ByteRange(0, group)]
    if offset >= group:
        asked.append(ByteRange(offset - offset % group, end))
    for window in asked[: stats.windows_fetched]:
        stat = client.stat(digest, bao_shift=shift, inline_limit=options.inline_limit, range=window)
        assert stat is not None
        stat_bytes += stat_to_response(stat).ByteSize()
    return RangeRead(stat_bytes, stats.bytes_fetched, seconds)


def drain_verified(client: GrpcBlobStore, digest: bytes, shift: int) -> int:
    reader = open_verified(client, digest, ReadOptions(bao_shift=shift))
    assert isinstance(reader, VerifiedReader)
    total = 0
    with reader:
        while piece := reader.read1(PIECE):
            total += len(piece)
    return total


def report_ranges(client: GrpcBlobStore, sizes: list[int], shifts: list[int]) -> None:
    print(f"4 KiB range reads, store with chunk_avg=4KiB ({os.cpu_count()} cores, loopback)")
    print(
        f"{'blob':>8} {'shift':>5} {'where':>6} {'Stat bytes':>10} {'chunk bytes':>11} "
        f"{'total':>9} {'time':>8} {'vs 1 MiB':>8}"
    )
    digests = [(size, put_random(client, size)) for size in sizes]
    # The same read (shift, where) of the first (smallest) blob is each row's baseline.
    baseline: dict[tuple[int, str], float] = {}
    for size, digest in digests:
        for shift in shifts:
            for where, offset in (("middle", size // 2), ("end", max(0, size - RANGE))):
                # Best of three: the reads are short, the machine is shared.
                read = min(
                    (range_read(client, digest, size, offset, shift) for _ in range(3)),
                    key=lambda one: one.seconds,
                )
                baseline.setdefault((shift, where), read.seconds)
                print(
                    f"{format_size(size):>8} {shift:5} {where:>6} {read.stat_bytes:10} "
                    f"{read.chunk_bytes:11} {read.total:9} {read.seconds * 1e3:6.1f}ms "
                    f"{read.seconds / baseline[(shift, where)]:7.2f}x"
                )
    print("targets: <= 256 KiB in all for 512 MiB at chunk_avg=4KiB, within 3x of 1 MiB;")
    print("Stat bytes < 16 KiB for 1 GiB at shift 4")
    print()


def report_whole(
    client: GrpcBlobStore, digests: dict[int, bytes], shifts: list[int], runs: int
) -> None:
    print(f"whole-blob reads, default chunking ({os.cpu_count()} cores, loopback)")
    print(
        f"{'blob':>8} {'shift':>5} {'raw MiB/s':>9} {'verified':>9} {'ratio':>6} "
        f"{'1st raw':>8} {'1st verified':>12} {'Stat(4KiB range)':>16}"
    )
    for size, digest in digests.items():
        for shift in shifts:
            times: tuple[list[float], list[float]] = ([], [])
            raw_read = functools.partial(drain_raw, client, digest)
            verified_read = functools.partial(drain_verified, client, digest, shift)
            for _ in range(runs):
                times[0].append(timed(raw_read, size))
                times[1].append(timed(verified_read, size))
            raw, verified = min(times[0]), min(times[1])
            middle = size // 2
            stat = client.stat(
                digest, bao_shift=shift, range=ByteRange(middle, min(size, middle + RANGE))
            )
            assert stat is not None
            client.read_options = ReadOptions(bao_shift=shift)
            first_raw, first_verified = first_byte_seconds(client, digest)
            print(
                f"{format_size(size):>8} {shift:5} {size / MiB / raw:9.0f} "
                f"{size / MiB / verified:9.0f} {raw / verified:5.2f}x "
                f"{first_raw * 1e3:6.1f}ms {first_verified * 1e3:10.1f}ms "
                f"{stat_to_response(stat).ByteSize():16}"
            )
    print("ratio = raw Read stream time / verified read time, best of --runs in turns")
    print("(targets: >= 0.7x at shift 0 for 256 MiB and more, >= 0.9x at shift 4)")
    print()


def client_rss_child(url: str, digest: str, work: Path) -> int:
    """A child process runs ``baostore get`` of the blob (verified, shift 4, no cache); its
    VmHWM in bytes."""
    code = (
        "import sys; from pathlib import Path; from baostore.cli.main import main; "
        "status = main(sys.argv[1:]); "
        "line = next(l for l in Path('/proc/self/status').read_text().splitlines() "
        "if l.startswith('VmHWM:')); print(int(line.split()[1]) * 1024); sys.exit(status)"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        "get",
        digest,
        "--store",
        url,
        "-o",
        str(work / "got.bin"),
        "--shift",
        "4",
        "--no-cache",
        "--no-progress",
    ]
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    (work / "got.bin").unlink(missing_ok=True)
    return int(output.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=argument(sizes_argument),
        default=sizes_argument("256M,1G"),
        help="blob sizes for whole reads (default 256M,1G; the issue's: 1M,1G,8G)",
    )
    parser.add_argument(
        "--range-sizes",
        type=argument(sizes_argument),
        default=sizes_argument("1M,512M"),
        help="blob sizes for range reads with 4 KiB chunks; the first is the baseline "
        "(default 1M,512M; empty: skip)",
    )
    parser.add_argument(
        "--shifts",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[0, 4, 8],
        help="comma-separated shifts (default 0,4,8)",
    )
    parser.add_argument("--runs", type=int, default=2, help="timed whole reads per shift")
    parser.add_argument(
        "--store-shift",
        type=int,
        default=None,
        help="the shift the whole-read store keeps its bao at (default: the store's, 4)",
    )
    parser.add_argument("--rss", action="store_true", help="measure server and client peak RSS")
    parser.add_argument("--tmp", type=Path, default=None, help="directory for the file stores")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.tmp))
    small = serve_store(f"{(work / 'small').as_uri()}?chunk_avg=4KiB")
    default_url = (work / "default").as_uri()
    if args.store_shift is not None:
        default_url += f"?bao_shift={args.store_shift}"
    default = serve_store(default_url)
    try:
        if args.range_sizes:
            with GrpcBlobStore.from_url(f"grpc+http://{small.address}", timeout=600) as client:
                report_ranges(client, args.range_sizes, args.shifts)
        url = f"grpc+http://{default.address}"
        with GrpcBlobStore.from_url(url, timeout=600) as client:
            digests = {size: put_random(client, size) for size in args.sizes}
            server_rss = peak_rss(default.process.pid)
            report_whole(client, digests, args.shifts, args.runs)
            if args.rss:
                biggest = max(args.sizes)
                print(
                    f"server peak RSS after the Puts (largest {format_size(biggest)}): "
                    f"{server_rss / MiB:.0f} MiB (target <= 256 MiB for 8 GiB)"
                )
                rss = client_rss_child(url, digests[biggest].hex(), work)
                print(
                    f"client peak RSS, baostore get of {format_size(biggest)} verified at shift 4: "
                    f"{rss / MiB:.0f} MiB (target <= 128 MiB)"
                )
    finally:
        small.stop()
        default.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
