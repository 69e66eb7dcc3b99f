"""Issue 3 benchmark: `baostore put` / `baostore get` of one file through the CLI over loopback
gRPC with a file store, as ratios to a raw Python gRPC stream of the same bytes measured in the
same run; peak RSS of the server and of each client process.

    python benches/bench_grpc.py              # 1 GiB
    python benches/bench_grpc.py --size 256M

Every side runs as its own process, baseline included (a trivial grpc.aio sink/source service
defined here, moving raw 1 MiB byte messages with no protobuf and no store), so both timings
include the same interpreter start-up. Peak RSS comes from wait4() of each child (ru_maxrss).
"""

from __future__ import annotations

import argparse
import asyncio
import filecmp
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from baostore.cli.arguments import argument
from baostore.sizes import GiB, MiB, parse_size
from grpc import aio

PIECE = MiB
RAW_SERVICE = "bench.RawStream"
_OPTIONS = (("grpc.max_send_message_length", 4 * MiB), ("grpc.max_receive_message_length", 4 * MiB))


# -- the baseline: a raw gRPC byte stream ------------------------------------------------------


async def _raw_sink(requests: AsyncIterator[bytes], context: Any) -> bytes:
    received = 0
    async for message in requests:
        received += len(message)
    return str(received).encode()


async def _raw_source(request: bytes, context: Any) -> AsyncIterator[bytes]:
    with open(request.decode(), "rb") as source:
        while piece := await asyncio.to_thread(source.read, PIECE):
            yield piece


async def _raw_server() -> None:
    server = aio.server(options=_OPTIONS)
    handlers = {
        "Sink": grpc.stream_unary_rpc_method_handler(_raw_sink),
        "Source": grpc.unary_stream_rpc_method_handler(_raw_source),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(RAW_SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"serving raw on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


def _raw_client(command: str, address: str, source: str, target: str | None) -> None:
    with grpc.insecure_channel(address, options=_OPTIONS) as channel:
        if command == "put":
            sink = channel.stream_unary(f"/{RAW_SERVICE}/Sink", None, None)

            def pieces() -> Any:
                with open(source, "rb") as data:
                    while piece := data.read(PIECE):
                        yield piece

            sink(pieces(), timeout=3600)
        else:
            assert target is not None
            stream = channel.unary_stream(f"/{RAW_SERVICE}/Source", None, None)
            with open(target, "wb") as out:
                for message in stream(source.encode(), timeout=3600):
                    out.write(message)


# -- measuring processes ---------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_rss: int  # bytes


def run_child(argv: Sequence[str]) -> Run:
    """Run a process to completion; its wall time and peak RSS (wait4's ru_maxrss)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit status {process.returncode}")
    return Run(seconds, usage.ru_maxrss * 1024)


class Server:
    """A server process that announces ``serving ... on ADDRESS`` on stderr."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        match = re.search(r"serving \S+ on (\S+)", line)
        if match is None:
            self.process.kill()
            raise SystemExit(f"server did not start: {line}")
        self.address = match.group(1)

    def stop(self) -> int:
        """SIGTERM it; return its peak RSS in bytes."""
        self.process.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss * 1024


def serve_store(store_url: str, *options: str) -> Server:
    """``baostore serve`` of ``store_url`` on a free loopback port, a process of its own."""
    return Server(
        [
            sys.executable,
            "-m",
            "baostore.cli",
            "serve",
            "--store",
            store_url,
            "--listen",
            "127.0.0.1:0",
            *options,
        ]
    )


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        remaining = size
        while remaining:
            piece = os.urandom(min(PIECE, remaining))
            out.write(piece)
            remaining -= len(piece)


def mib(nbytes: float) -> str:
    return f"{nbytes / MiB:.0f} MiB"


def orchestrate(size: int, work: Path) -> None:
    python = sys.executable
    source = work / "source.bin"
    make_file(source, size)
    print(f"blob: {mib(size)} of random bytes; file store in {work}; loopback TCP")

    raw = Server([python, __file__, "--raw-server"])
    raw_put = run_child([python, __file__, "--raw-client", "put", raw.address, str(source)])
    raw_copy = work / "raw-copy.bin"
    raw_get = run_child(
        [python, __file__, "--raw-client", "get", raw.address, str(source), str(raw_copy)]
    )
    raw_server_rss = raw.stop()
    raw_copy.unlink()

    cli = [python, "-m", "baostore.cli"]
    server = serve_store((work / "store").as_uri())
    url = f"grpc+http://{server.address}"
    put_started = time.perf_counter()
    put_process = subprocess.Popen(
        [*cli, "put", str(source), "--store", url, "--no-progress"], stdout=subprocess.PIPE
    )
    assert put_process.stdout is not None
    digest = put_process.stdout.read().decode().strip()
    _, status, usage = os.wait4(put_process.pid, 0)
    put = Run(time.perf_counter() - put_started, usage.ru_maxrss * 1024)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("baostore put failed")
    copy = work / "copy.bin"
    # --no-cache: the raw baseline keeps no chunk cache either (and the user's stays clean).
    get = run_child(
        [*cli, "get", digest, "--store", url, "-o", str(copy), "--no-progress", "--no-cache"]
    )
    server_rss = server.stop()
    if not filecmp.cmp(source, copy, shallow=False):
        raise SystemExit("the fetched copy differs from the source")

    print(f"digest {digest} (copy verified identical by byte comparison)")
    print()
    print(f"{'':28}{'seconds':>9}{'MiB/s':>9}{'ratio':>8}{'client RSS':>12}")
    rows = [
        ("raw gRPC stream, client->srv", raw_put, raw_put),
        ("baostore put (CLI, file)", put, raw_put),
        ("raw gRPC stream, srv->client", raw_get, raw_get),
        ("baostore get (CLI, file)", get, raw_get),
    ]
    for name, run, baseline in rows:
        ratio = baseline.seconds / run.seconds
        print(
            f"{name:28}{run.seconds:9.2f}{size / MiB / run.seconds:9.0f}"
            f"{ratio:7.2f}x{mib(run.peak_rss):>12}"
        )
    print()
    print("ratio = raw stream time / baostore time (1.00x = as fast as a raw gRPC byte stream)")
    print(f"peak RSS, baostore serve (put + get): {mib(server_rss)}")
    print(f"peak RSS, raw baseline server:        {mib(raw_server_rss)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=argument(parse_size), default=GiB, help="blob size (default 1GiB)"
    )
    parser.add_argument("--raw-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raw-client", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server:
        asyncio.run(_raw_server())
    elif args.raw_client:
        command, address, source, *target = args.raw_client
        _raw_client(command, address, source, target[0] if target else None)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-grpc-") as work:
            orchestrate(args.size, Path(work))


if __name__ == "__main__":
    main()
