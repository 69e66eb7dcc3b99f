"""`make demo`: a loopback baostore server on a file store, a 20 MiB blob put and fetched back.

Runs `baostore serve` on a file store in a temporary directory (a free loopback port), puts a
generated file through the CLI over gRPC, gets it back into another file, compares the two,
shows `baostore stat`, and stops the server with SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from baostore.cli import main as cli
from baostore.sizes import MiB


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


@contextlib.contextmanager
def running_server(store_url: str) -> Iterator[str]:
    """`baostore serve` in a child process; yields its grpc+http:// URL, SIGTERMs it at the end."""
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", store_url]
    server = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    try:
        announcement = server.stderr.readline()
        match = re.search(r"serving \S+ on (\S+)", announcement)
        if match is None:
            raise SystemExit(
                f"demo: the server did not start: {announcement}{server.stderr.read()}"
            )
        yield f"grpc+http://{match.group(1)}"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        say(f"server stopped by SIGTERM (exit status {server.returncode})")


def run_cli(*args: str) -> str:
    """Run a baostore command in-process (the CLI's own code path); return its stdout."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = cli(list(args))
    if status != 0:
        raise SystemExit(f"demo: `baostore {' '.join(args)}` failed with exit status {status}")
    return output.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=20, help="size of the demo blob (MiB)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="baostore-demo-") as work_dir:
        work = Path(work_dir)
        store_url = (work / "store").as_uri()
        source = work / "source.bin"
        # Half random, half repeated: realistic enough for the chunker, cheap to generate.
        block = os.urandom(MiB)
        with source.open("wb") as out:
            for index in range(args.size_mib):
                out.write(os.urandom(MiB) if index % 2 else block)
        say(f"generated {source.name}: {args.size_mib} MiB")

        with running_server(store_url) as server_url:
            say(f"server: baostore serve --store {store_url} (listening at {server_url})")

            started = time.perf_counter()
            digest = run_cli("put", str(source), "--store", server_url).strip()
            elapsed = time.perf_counter() - started
            say(f"put over gRPC in {elapsed:.2f} s: digest {digest}")

            copy = work / "copy.bin"
            started = time.perf_counter()
            run_cli("get", digest, "--store", server_url, "-o", str(copy))
            elapsed = time.perf_counter() - started
            say(f"get over gRPC in {elapsed:.2f} s into {copy.name}")

            if copy.read_bytes() != source.read_bytes():
                raise SystemExit("demo: FAILED: the fetched copy differs from the source")
            say("the copy is byte-identical to the source")

            part = work / "part.bin"
            run_cli("get", digest, "--store", server_url, "-o", str(part), "--range", "0:4096")
            say(f"get --range 0:4096 wrote {part.stat().st_size} bytes")

            say("stat:")
            print(run_cli("stat", digest, "--store", server_url).rstrip())
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
