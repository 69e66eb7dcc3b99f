"""Failures a user meets end in one line of our own on stderr, with the exit status documented:
no traceback, no gRPC C-core log line, no Rust debug dump, whatever the environment asks of
those libraries (the CLI silences them unless $BAOSTORE_DEBUG is set).

Every command runs as a real process (``python -m baostore.cli``) with GRPC_VERBOSITY=DEBUG and
RUST_BACKTRACE=full in its environment, as some shells have them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from baostore.cli.failures import EXIT_ERROR, EXIT_USAGE
from baostore.grpc.client import GrpcBlobStore
from baostore.store.objects import ObjectBackend, s3_backend

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "07" * 32
NOISY = {"GRPC_VERBOSITY": "DEBUG", "GRPC_TRACE": "all", "RUST_BACKTRACE": "full"}
# What gRPC's C core starts its log lines with: a severity letter and the date (E1130 10:00:40).
C_CORE_LINE = re.compile(r"^[EWID]\d{4} \d\d:\d\d:\d\d", re.MULTILINE)
RUN_TIMEOUT = 60.0


def baostore(
    *args: str, environment: Mapping[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "BAOSTORE_DEBUG"}
    env.update({**NOISY, **(environment or {})})
    return subprocess.run(
        [*prefix, sys.executable, "-m", "baostore.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed, checked for foreign noise."""
    assert not C_CORE_LINE.search(result.stderr), result.stderr
    assert "Traceback" not in result.stderr and "Debug source" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("baostore: error: "), lines[0]
    return lines[0].removeprefix("baostore: error: ")


@contextmanager
def tcp_peer(answer: bytes) -> Iterator[str]:
    """A loopback TCP server that is no gRPC server: it reads, sends ``answer``, closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    connection.recv(65536)
                    connection.sendall(answer)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_tls_against_a_plaintext_server() -> None:
    with serve_in_thread(small_chunk_memory_store()) as url:
        https = url.replace("grpc+http://", "grpc+https://")
        result = baostore("stat", DIGEST, "--store", https)
    assert result.returncode == EXIT_ERROR
    assert one_error_line(result) == (
        f"cannot reach server at {https}: the server does not speak TLS (use grpc+http://)"
    )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "it answered in HTTP/1.x"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "it does not speak HTTP/2"),
    ],
    ids=["http1", "ssh"],
)
def test_a_peer_that_is_not_a_grpc_server(answer: bytes, why: str) -> None:
    with tcp_peer(answer) as address:
        url = f"grpc+http://{address}"
        result = baostore("stat", DIGEST, "--store", url)
    assert result.returncode == EXIT_ERROR
    assert one_error_line(result) == (
        f"cannot reach server at {url}: the peer is not a gRPC server ({why})"
    )


def test_serve_on_a_unix_socket_in_a_missing_directory(tmp_path: Path) -> None:
    listen = f"unix:{tmp_path / 'missing' / 'baostore.sock'}"
    result = baostore("serve", "--store", "memory://", "--listen", listen)
    assert result.returncode == EXIT_ERROR
    assert one_error_line(result) == (
        f"cannot listen on {listen}: directory {tmp_path / 'missing'} does not exist"
    )


def test_serve_on_a_port_in_use() -> None:
    # A plain socket holds the port (no SO_REUSEPORT): no server may share it.
    with socket.create_server(("127.0.0.1", 0)) as holder:
        listen = f"127.0.0.1:{holder.getsockname()[1]}"
        result = baostore("serve", "--store", "memory://", "--listen", listen)
        with_debug = baostore(
            "serve", "--store", "memory://", "--listen", listen, environment={"BAOSTORE_DEBUG": "1"}
        )
    assert result.returncode == EXIT_ERROR
    assert one_error_line(result) == f"cannot listen on {listen}: address already in use"
    # What is silenced: BAOSTORE_DEBUG lets gRPC's own lines through.
    assert with_debug.returncode == EXIT_ERROR
    assert C_CORE_LINE.search(with_debug.stderr), with_debug.stderr


def test_metrics_on_a_port_in_use() -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        metrics = f"127.0.0.1:{holder.getsockname()[1]}"
        result = baostore("serve", "--store", "memory://", "--metrics-listen", metrics)
    assert result.returncode == EXIT_ERROR
    assert one_error_line(result) == f"cannot serve metrics on {metrics}: address already in use"


@contextmanager
def hanging_server(marker: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """tests.support.hanging_server in a process of its own; its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hanging_server", str(marker)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "python"), str(ROOT)])},
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().strip()
    finally:
        process.kill()
        process.communicate(timeout=RUN_TIMEOUT)


def test_a_server_that_dies_mid_stream(tmp_path: Path) -> None:
    marker = tmp_path / "first-piece-sent"
    with hanging_server(marker) as (server, url):
        with GrpcBlobStore.from_url(url) as client:
            digest = client.put(os.urandom(3 << 20)).hex()
        command = [sys.executable, "-m", "baostore.cli", "get", digest, "-o", "-"]
        env = {**os.environ, **NOISY}
        with subprocess.Popen(
            [*command, "--store", url, "--no-cache"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        ) as get:
            deadline = time.monotonic() + RUN_TIMEOUT
            while not marker.exists() and get.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert marker.exists(), "the get never started its Read"
            server.send_signal(signal.SIGKILL)
            _, stderr = get.communicate(timeout=RUN_TIMEOUT)
    result = subprocess.CompletedProcess(command, get.returncode, "", stderr)
    assert result.returncode == EXIT_ERROR
    message = one_error_line(result)
    assert message.startswith(f"lost the connection to the server at {url} during Read: "), message
    assert "cannot reach" not in message


def without_aws(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if not name.startswith("AWS_")}


def network_isolated() -> tuple[str, ...]:
    """A prefix that runs a command without any network but loopback (a new network namespace),
    when this machine allows it: the S3 tests below must never reach for a metadata endpoint,
    and with it they could not even if the check they test were broken."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=RUN_TIMEOUT)
    return (unshare, "-rn") if probe.returncode == 0 else ()


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("s3://bucket?endpoint=http://127.0.0.1:9", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
        ("s3://bucket", ("?endpoint=URL", "?region=REGION", "AWS_ENDPOINT_URL", "AWS_REGION")),
    ],
    ids=["no credentials", "no endpoint"],
)
def test_s3_without_settings_fails_at_once_naming_them(url: str, names: tuple[str, ...]) -> None:
    env = without_aws(os.environ)
    result = subprocess.run(
        [*network_isolated(), sys.executable, "-m", "baostore.cli", "ls", "--store", url],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == EXIT_USAGE
    message = one_error_line(result)
    assert message.startswith("bad store URL: s3://bucket: no ")
    for name in names:
        assert name in message


def test_s3_settings_are_checked_before_any_client_exists() -> None:
    with pytest.raises(ValueError, match="no credentials"):
        s3_backend("bucket", endpoint="http://127.0.0.1:9", environ={})
    with pytest.raises(ValueError, match="no endpoint"):
        s3_backend("bucket", environ={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    keys = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    for environ in (
        {**keys, "AWS_REGION": "eu-west-1"},
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_SKIP_SIGNATURE": "true"},
        {"AWS_REGION": "eu-west-1", "AWS_METADATA_ENDPOINT": "http://127.0.0.1:9"},
        {"AWS_REGION": "r", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn"},
    ):
        assert isinstance(s3_backend("bucket", environ=environ), ObjectBackend)
    # Half a key pair is no credentials.
    with pytest.raises(ValueError, match="no credentials"):
        s3_backend("bucket", region="r", environ={"AWS_ACCESS_KEY_ID": "k"})


def test_an_s3_failure_is_one_line_without_the_rust_dump(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with tcp_peer(answer) as address:
        url = f"s3://bucket/prefix?endpoint=http://{address}&region=us-east-1"
        result = baostore("ls", "--store", url)
    assert result.returncode == EXIT_ERROR
    message = one_error_line(result)
    assert message.startswith("s3://bucket/prefix: list 'blobs' failed: ")
    assert "403 Forbidden" in message and "AccessDenied" in message
