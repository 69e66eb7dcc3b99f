"""Issue 11 benchmark: the data plane against the ceiling of its own stack, same run, interleaved.

    python benches/bench_datapath.py                      # 1 GiB, 3 rounds, plain and TLS
    python benches/bench_datapath.py --size 256M --runs 5 --no-tls --rss-size 0
    python benches/bench_datapath.py --dir /dev/shm        # file store and get output in memory

Every measurement runs in a child process of its own and times only its work (imports and
interpreter start-up excluded), so the ratios compare the data paths, not start-up costs:

* ceiling: a trivial ``grpc.aio`` server (this file, ``--ceiling-server``) streaming pre-encoded
  1 MiB ``BlobChunk`` messages of the blob's size; a raw client drains them (the stack's ceiling);
* raw Read: the same raw client draining ``baostore serve`` (memory store) Read of the blob;
* verified open_read: ``GrpcBlobStore.open_read`` of the blob drained with ``read1``;
* get -o FILE: ``baostore get DIGEST -o FILE --no-cache`` (its ``main``), verified;
* Put: ``baostore put FILE`` (its ``main``) into ``baostore serve`` over a file store, against a
  trivial Put sink (the ceiling server's Put: it counts the bytes and answers);
* TLS (``--tls``, the default): ceiling, raw Read and verified open_read over TLS;
* durable write: the blob written and fsynced where the file store and get's output are
  (``--dir``): what the disk allows (a get and a Put are durable).

Each round runs every measurement once, in turns (A, B, A, B, ...); a ratio is taken inside a
round (neighbouring measurements see the same machine load) and reported as the median of the
rounds with its spread (min..max). With ``--rss-size``: the peak RSS (VmHWM) of a client reading
a bigger blob verified, and of ``baostore get`` of it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from baostore.cli.arguments import argument
from baostore.sizes import GiB, MiB, format_size, parse_size
from grpc import aio

sys.path.insert(0, str(Path(__file__).parent))
from bench_grpc import Server, serve_store

PIECE = MiB
READ_METHOD = "/baostore.v1.BlobService/Read"
PUT_METHOD = "/baostore.v1.BlobService/Put"
_OPTIONS = (("grpc.max_send_message_length", 4 * MiB), ("grpc.max_receive_message_length", 4 * MiB))


# -- the ceiling: pre-encoded messages, no store ---------------------------------------------


def blob_chunk(data: bytes) -> bytes:
    """``BlobChunk{data}`` encoded: field 1, length-delimited."""
    length = len(data)
    header = bytearray([0x0A])
    while True:
        byte = length & 0x7F
        length >>= 7
        header.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(header) + data


def ceiling_messages(size: int) -> list[bytes]:
    """The pre-encoded messages of a ``size``-byte blob, all made before any call: each its own
    bytes in memory, as a store holds a blob (one message sent again and again would be copied
    from the CPU's cache, which no real blob is)."""
    return [blob_chunk(os.urandom(min(PIECE, size - offset))) for offset in range(0, size, PIECE)]


async def _ceiling_server(size: int, tls: list[str] | None) -> None:
    messages = ceiling_messages(size)

    async def read(request: bytes, context: Any) -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    async def put(requests: AsyncIterator[bytes], context: Any) -> bytes:
        async for _ in requests:
            pass
        return b"\x0a\x20" + bytes(32)

    server = aio.server(options=_OPTIONS)
    handlers = {
        "Read": grpc.unary_stream_rpc_method_handler(read),
        "Put": grpc.stream_unary_rpc_method_handler(put),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("baostore.v1.BlobService", handlers)]
    )
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        cert, key = (Path(path).read_bytes() for path in tls)
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    print(f"serving ceiling on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


# -- the measurements, each in a child ---------------------------------------------------------


def _channel(address: str, ca: str | None) -> grpc.Channel:
    if ca is None:
        return grpc.insecure_channel(address, options=_OPTIONS)
    credentials = grpc.ssl_channel_credentials(Path(ca).read_bytes())
    return grpc.secure_channel(address, credentials, options=_OPTIONS)


def _store_url(address: str, ca: str | None) -> str:
    if ca is None:
        return f"grpc+http://{address}"
    return f"grpc+https://{address}?ca={ca}"


def child_raw(address: str, digest: bytes, ca: str | None) -> int:
    """Drain a Read stream with no decoding at all: the bytes of the messages received."""
    with _channel(address, ca) as channel:
        read = channel.unary_stream(READ_METHOD, None, None)
        request = b"\x0a\x20" + digest
        return sum(len(message) for message in read(request, timeout=3600))


def child_verified(address: str, digest: bytes, ca: str | None) -> int:
    from baostore.grpc.client import GrpcBlobStore

    total = 0
    with GrpcBlobStore.from_url(_store_url(address, ca)) as client:
        reader = client.open_read(digest)
        assert reader is not None
        with reader:
            read1: Callable[[int], bytes] = reader.read1  # type: ignore[attr-defined]
            while piece := read1(PIECE):
                total += len(piece)
    return total


def child_get(address: str, digest: bytes, ca: str | None, output: str) -> int:
    from baostore.cli.main import main

    argv = ["get", digest.hex(), "--store", _store_url(address, ca), "-o", output]
    status = main([*argv, "--no-cache", "--no-progress", "--quiet"])
    if status != 0:
        raise SystemExit(f"baostore get failed with {status}")
    return os.path.getsize(output)


def child_put_sink(address: str, source: str) -> int:
    def messages() -> Iterator[bytes]:
        with open(source, "rb") as data:
            while piece := data.read(PIECE):
                yield blob_chunk(piece)

    with _channel(address, None) as channel:
        channel.stream_unary(PUT_METHOD, None, None)(messages(), timeout=3600)
    return os.path.getsize(source)


def child_put(address: str, source: str) -> int:
    from baostore.cli.main import main

    status = main(["put", source, "--store", f"grpc+http://{address}", "--no-progress", "--quiet"])
    if status != 0:
        raise SystemExit(f"baostore put failed with {status}")
    return os.path.getsize(source)


def child_durable(source: str, target: str) -> int:
    """Write the blob's bytes to ``target`` and fsync it: what the disk allows a get or a Put."""
    with open(source, "rb") as data, open(target, "wb") as out:
        while piece := data.read(PIECE):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    return os.path.getsize(target)


def child(argv: list[str]) -> None:
    """Run one measurement; print ``SECONDS BYTES PEAK_RSS``."""
    kind, address, *rest = argv
    ca = os.environ.get("BENCH_CA") or None
    # Imports are not the data path: what the measured call would import on first use (the
    # CLI loads a command's modules when it runs it) is imported before the clock starts.
    imports = {
        "verified": ["baostore.grpc.client"],
        "get": ["baostore.grpc.client", "baostore.cli.main", "baostore.cli.fetch"],
        "put": ["baostore.grpc.client", "baostore.cli.main"],
    }
    for module in imports.get(kind, []):
        importlib.import_module(module)
    started = time.perf_counter()
    if kind == "raw":
        count = child_raw(address, bytes.fromhex(rest[0]), ca)
    elif kind == "verified":
        count = child_verified(address, bytes.fromhex(rest[0]), ca)
    elif kind == "get":
        count = child_get(address, bytes.fromhex(rest[0]), ca, rest[1])
    elif kind == "put_sink":
        count = child_put_sink(address, rest[0])
    elif kind == "put":
        count = child_put(address, rest[0])
    elif kind == "durable":
        count = child_durable(address, rest[0])
    else:
        raise SystemExit(f"unknown measurement {kind}")
    seconds = time.perf_counter() - started
    # Files written are removed untimed (freeing 1 GiB of tmpfs takes ~0.15 s).
    written = {"get": rest[1:], "durable": rest[:1]}.get(kind, [])
    for path in written:
        os.unlink(path)
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print(seconds, count, int(peak.split()[1]) * 1024)


@dataclass(frozen=True)
class Result:
    seconds: float
    count: int
    peak_rss: int


def run_child(argv: Sequence[str], ca: str | None = None) -> Result:
    env = dict(os.environ)
    if ca is not None:
        env["BENCH_CA"] = ca
    command = [sys.executable, __file__, "--child", *argv]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    output = done.stdout
    seconds, count, peak = output.splitlines()[-1].split()
    return Result(float(seconds), int(count), int(peak))


# -- orchestration ------------------------------------------------------------------------------


def put_file(address: str, path: Path, ca: str | None = None) -> bytes:
    from baostore.grpc.client import GrpcBlobStore

    with GrpcBlobStore.from_url(_store_url(address, ca)) as client, path.open("rb") as source:
        return client.put(source)


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        for offset in range(0, size, PIECE):
            out.write(os.urandom(min(PIECE, size - offset)))


@dataclass
class Series:
    """The runs of one measurement."""

    name: str
    results: list[Result]

    def rate(self, size: int) -> str:
        return f"{size / MiB / statistics.median(r.seconds for r in self.results):7.0f}"


def ratio_cell(series: Series, baseline: Series) -> str:
    ratios = [b.seconds / s.seconds for s, b in zip(series.results, baseline.results, strict=True)]
    return f"{statistics.median(ratios):5.2f}x ({min(ratios):.2f}..{max(ratios):.2f})"


def serve(store: str, tls: tuple[str, str] | None = None) -> Server:
    return serve_store(store, *(() if tls is None else ("--tls-cert", tls[0], "--tls-key", tls[1])))


def ceiling(size: int, tls: tuple[str, str] | None = None) -> Server:
    argv = [sys.executable, __file__, "--ceiling-server", str(size)]
    if tls is not None:
        argv += ["--ceiling-tls", *tls]
    return Server(argv)


def orchestrate(args: argparse.Namespace, work: Path) -> None:
    size = args.size
    source = work / "blob.bin"
    make_file(source, size)
    output = str(work / "copy.bin")
    servers: list[Server] = []
    try:
        top = ceiling(size)
        servers.append(top)
        memory = serve("memory://")
        servers.append(memory)
        files = serve((work / "store").as_uri())
        servers.append(files)
        digest = put_file(memory.address, source).hex()
        tls_servers: tuple[Server, Server, str] | None = None
        if args.tls:
            sys.path.insert(0, str(Path(__file__).parent.parent))
            from tests.support.certs import make_pki

            pki = make_pki(work)
            pair = (str(pki.server.cert), str(pki.server.key))
            tls_top = ceiling(size, pair)
            servers.append(tls_top)
            tls_memory = serve("memory://", pair)
            servers.append(tls_memory)
            put_file(tls_memory.address, source, str(pki.ca))
            tls_servers = (tls_top, tls_memory, str(pki.ca))

        plan: list[tuple[str, list[str], str | None]] = [
            ("ceiling", ["raw", top.address, digest], None),
            ("raw Read", ["raw", memory.address, digest], None),
            ("verified open_read", ["verified", memory.address, digest], None),
            ("get -o FILE", ["get", memory.address, digest, output], None),
            ("Put sink", ["put_sink", top.address, str(source)], None),
            ("put (CLI, file store)", ["put", files.address, str(source)], None),
            ("durable write", ["durable", str(source), output], None),
        ]
        if tls_servers is not None:
            tls_top, tls_memory, tls_ca = tls_servers
            plan += [
                ("TLS ceiling", ["raw", tls_top.address, digest], tls_ca),
                ("TLS raw Read", ["raw", tls_memory.address, digest], tls_ca),
                ("TLS verified open_read", ["verified", tls_memory.address, digest], tls_ca),
            ]
        series = {name: Series(name, []) for name, _, _ in plan}
        for round_number in range(args.runs):
            for name, argv, ca in plan:
                series[name].results.append(run_child(argv, ca))
            print(f"round {round_number + 1} of {args.runs} done", file=sys.stderr)
        report(args, series)
        if args.rss_size:
            big = work / "big.bin"
            make_file(big, args.rss_size)
            big_digest = put_file(memory.address, big).hex()
            big.unlink()
            verified = run_child(["verified", memory.address, big_digest])
            got = run_child(["get", memory.address, big_digest, output])
            print()
            print(f"client peak RSS (VmHWM) for {format_size(args.rss_size)}, shift 4:")
            print(f"  verified open_read  {verified.peak_rss / MiB:7.1f} MiB  (target <= 128 MiB)")
            print(f"  get -o FILE         {got.peak_rss / MiB:7.1f} MiB")
    finally:
        for server in servers:
            server.stop()


def report(args: argparse.Namespace, series: dict[str, Series]) -> None:
    size = args.size
    print(
        f"blob {format_size(size)} random; memory store behind baostore serve; loopback TCP; "
        f"{args.runs} rounds, {os.cpu_count()} cores"
    )
    print()
    rows = [
        ("ceiling", None, ""),
        ("raw Read", "ceiling", ">= 0.90x"),
        ("verified open_read", "raw Read", ">= 0.90x"),
        ("get -o FILE", "verified open_read", ">= 0.90x"),
        ("Put sink", None, ""),
        ("put (CLI, file store)", "Put sink", ">= 0.50x"),
        ("durable write", None, ""),
        ("TLS ceiling", None, ""),
        ("TLS raw Read", "TLS ceiling", ""),
        ("TLS verified open_read", "TLS raw Read", ""),
    ]
    print(f"{'':24}{'MiB/s':>8}  {'ratio (spread)':<22}{'against':<20}{'target':>8}")
    for name, against, target in rows:
        if name not in series:
            continue
        ratio = "" if against is None else ratio_cell(series[name], series[against])
        print(f"{name:24}{series[name].rate(size):>8}  {ratio:<22}{against or '':<20}{target:>8}")
    print()
    print("MiB/s: median of the rounds; ratio: baseline time / time, median of the rounds")
    print("(each round measures every row once, in turns), with its smallest and largest value")
    print(f"durable write: the blob written and fsynced in {args.dir} (where the file store and")
    print("get's output are): a get or a Put there goes no faster than that")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=argument(parse_size), default=GiB, help="default 1GiB")
    parser.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--no-tls", dest="tls", action="store_false", help="skip the TLS rows")
    parser.add_argument(
        "--rss-size",
        type=argument(parse_size),
        default=2 * GiB,
        help="blob for the peak RSS rows (default 2GiB; 0: skip)",
    )
    parser.add_argument(
        "--dir",
        default=tempfile.gettempdir(),
        help="where the file store and get's output go (default the temporary directory; "
        "/dev/shm takes the disk out of the figures)",
    )
    parser.add_argument("--ceiling-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ceiling-tls", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_server is not None:
        asyncio.run(_ceiling_server(args.ceiling_server, args.ceiling_tls))
    elif args.child:
        child(args.child)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-datapath-", dir=args.dir) as work:
            orchestrate(args, Path(work))


if __name__ == "__main__":
    main()
