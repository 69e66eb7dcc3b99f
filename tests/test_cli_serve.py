"""`baostore serve` as a real process: it serves, and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from baostore.grpc.client import GrpcBlobStore
from blake3 import blake3


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``baostore serve`` and return it with the address it announced."""
    process = subprocess.Popen(
        [sys.executable, "-m", "baostore.cli", "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r"serving \S+ on (\S+)", line)
    if match is None:
        process.kill()
        raise AssertionError(f"serve did not announce its address: {line!r}")
    return process, match.group(1)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_gracefully(stop_signal: signal.Signals) -> None:
    process, address = start_serve("--store", "memory://", "--listen", "127.0.0.1:0")
    try:
        with GrpcBlobStore.from_url(f"grpc+http://{address}") as client:
            data = os.urandom(100_000)
            digest = client.put(data)
            assert digest == blake3(data).digest()
            reader = client.open_read(digest)
            assert reader is not None and reader.read() == data
        process.send_signal(stop_signal)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Traceback" not in rest


def test_a_read_in_flight_finishes_after_sigterm() -> None:
    process, address = start_serve("--store", "memory://", "--listen", "127.0.0.1:0")
    try:
        with GrpcBlobStore.from_url(f"grpc+http://{address}") as client:
            data = os.urandom(24 << 20)  # more than flow control lets the server send ahead
            pieces = client.read_raw(client.put(data))
            assert pieces is not None
            first = next(pieces)
            process.send_signal(signal.SIGTERM)
            assert first + b"".join(pieces) == data  # the grace period lets the stream finish
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0


def test_serve_on_a_unix_socket_with_a_file_store(tmp_path: Path) -> None:
    socket = tmp_path / "serve.sock"
    store = (tmp_path / "store").as_uri()
    process, address = start_serve("--store", store, "--listen", f"unix:{socket}")
    try:
        assert address == f"unix:{socket}"
        with GrpcBlobStore.from_url(f"grpc+unix://{socket}") as client:
            assert client.put(b"\x00\x01") == blake3(b"\x00\x01").digest()
        process.terminate()
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0


def test_serve_refuses_a_bad_listen_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "serve", "--store", "memory://", "--listen", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "is not HOST:PORT or unix:/PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_serve_on_a_port_in_use_fails() -> None:
    first, address = start_serve("--store", "memory://", "--listen", "127.0.0.1:0")
    try:
        command = [sys.executable, "-m", "baostore.cli", "serve", "--store", "memory://"]
        second = subprocess.Popen(
            [*command, "--listen", address],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # A second server that starts announces itself and serves on: never wait for it.
            _, err = second.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
            _, err = second.communicate()
        first.terminate()
        first.communicate(timeout=60)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
    assert second.returncode == 1, err
    assert "address already in use" in err.lower() and "serving" not in err
    assert "Traceback" not in err
