"""``baostore get``'s partial file in a directory shared with other gets and other users: a get
that exits 0 leaves exactly the blob, whatever else is going on there."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR, EXIT_OK
from baostore.cli.partial import partial_path
from baostore.open import open_store
from baostore.store.forwarding import ForwardingStore

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

BLOB = os.urandom(3 << 20)


class DrippingStore(ForwardingStore):
    """Serves every Read slowly (a pause before each piece), so a get takes a few seconds."""

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None

        def slowly() -> Iterator[bytes]:
            for piece in pieces:
                for start in range(0, len(piece), 64 << 10):
                    time.sleep(0.03)
                    yield piece[start : start + 64 << 10]

        return slowly()


def get_command(url: str, digest: bytes) -> list[str]:
    return [sys.executable, "-m", "baostore.cli", "get", digest.hex(), "--store", url]


def test_a_second_get_to_the_same_target_refuses_while_the_first_writes(tmp_path: Path) -> None:
    store = DrippingStore(small_chunk_memory_store())
    digest = store.put(BLOB)
    target = tmp_path / "out.bin"
    partial = partial_path(target, digest)
    with serve_in_thread(store) as url:
        command = [*get_command(url, digest), "-o", str(target), "--no-cache"]
        first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 0):
            assert first.poll() is None and time.monotonic() < deadline, "first get never wrote"
            time.sleep(0.02)
        second = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=120)
        first_stderr = first.communicate(timeout=120)[1]
    assert second.returncode == EXIT_ERROR
    assert "another baostore get is writing" in second.stderr
    assert first.returncode == EXIT_OK, first_stderr
    assert target.read_bytes() == BLOB
    assert not partial.exists()


def test_a_get_after_the_first_finished_finds_the_blob_in_place(tmp_path: Path) -> None:
    store = small_chunk_memory_store()
    digest = store.put(BLOB)
    target = tmp_path / "out.bin"
    with serve_in_thread(store) as url:
        for _ in range(2):
            assert main(["get", digest.hex(), "--store", url, "-o", str(target)]) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize(
    "mode",
    [0o666, 0o646, 0o664],
    ids=["writable-by-all", "writable-by-others", "writable-by-group"],
)
def test_a_partial_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    """A partial planted in a shared directory (here: one anybody can write) is never adopted:
    its owner could rewrite the output after it verified."""
    store = small_chunk_memory_store()
    digest = store.put(BLOB)
    target = tmp_path / "image.bin"
    planted = partial_path(target, digest)
    planted.touch()
    planted.chmod(mode)
    with serve_in_thread(store) as url:
        command = ["get", digest.hex(), "--store", url, "-o", str(target), "--no-cache"]
        assert main(command) == EXIT_ERROR
    assert not target.exists()
    assert planted.read_bytes() == b""


def test_a_partial_with_another_hard_link_is_refused(tmp_path: Path) -> None:
    store = small_chunk_memory_store()
    digest = store.put(BLOB)
    target = tmp_path / "image.bin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    elsewhere.chmod(0o600)
    os.link(elsewhere, partial_path(target, digest))
    with serve_in_thread(store) as url:
        command = ["get", digest.hex(), "--store", url, "-o", str(target), "--no-cache"]
        assert main(command) == EXIT_ERROR
    assert elsewhere.read_bytes() == b"" and not target.exists()


def test_a_new_partial_is_private_and_the_result_gets_the_usual_mode(tmp_path: Path) -> None:
    store = DrippingStore(small_chunk_memory_store())
    digest = store.put(BLOB)
    target = tmp_path / "out.bin"
    partial = partial_path(target, digest)
    modes: list[int] = []
    with serve_in_thread(store) as url:
        command = [*get_command(url, digest), "-o", str(target), "--no-cache"]
        getting = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while getting.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                modes.append(stat.S_IMODE(partial.stat().st_mode))
            time.sleep(0.01)
        assert getting.wait(timeout=60) == EXIT_OK
    assert modes and set(modes) == {0o600}
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert target.read_bytes() == BLOB


@pytest.mark.parametrize("verified", [True, False], ids=["remote", "local"])
def test_get_into_a_fifo_writes_into_it(tmp_path: Path, verified: bool) -> None:
    """``-o`` naming a FIFO (or a device such as /dev/null) writes into it, never replaces it.
    (A FIFO, not /dev/null itself: a regression run as root would replace the machine's.)"""
    local = small_chunk_memory_store()
    blob = BLOB[: 300 << 10]
    digest = local.put(blob)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with serve_in_thread(local) as url:
        store = url if verified else (tmp_path / "store").as_uri()
        if not verified:
            with open_store(store) as on_disk:
                assert on_disk.put(blob) == digest
        command = [*get_command(store, digest), "-o", str(fifo), "--no-cache"]
        # The test holds a write end too, so its read end opens at once and the read ends (at
        # EOF) even when get never writes into the FIFO.
        keep_open = os.open(fifo, os.O_RDWR)
        read_end = os.open(fifo, os.O_RDONLY)
        received = bytearray()

        def read_all() -> None:
            while data := os.read(read_end, 1 << 16):
                received.extend(data)

        reading = threading.Thread(target=read_all)
        reading.start()
        getting = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=60)
        os.close(keep_open)
        reading.join(timeout=60)
        os.close(read_end)
    assert getting.returncode == EXIT_OK, getting.stderr
    assert received == blob and bao.hash(received) == digest
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "store") == ["pipe"]
