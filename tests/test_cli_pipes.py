"""`baostore get -o -` into a pipe whose reader goes away (`| head -c 10`): a quiet exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore.cli.failures import EXIT_BROKEN_PIPE
from baostore.open import open_store

from tests.support.grpc_server import serve_in_thread

# Far more than a pipe buffers (64 KiB), so the writer meets the closed pipe.
SIZE = 8 << 20


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes, bytes]:
    """The store's URL, the blob's digest and its first bytes."""
    url = (tmp_path_factory.mktemp("pipes") / "store").as_uri()
    data = os.urandom(SIZE)
    with open_store(url) as store:
        return url, store.put(data), data[:10]


@pytest.fixture(params=["local", "remote"])
def store_url(request: pytest.FixtureRequest, stored: tuple[str, bytes, bytes]) -> Iterator[str]:
    url, _, _ = stored
    if request.param == "local":
        yield url
        return
    with open_store(url) as store, serve_in_thread(store) as served:
        yield served


def test_get_into_a_closed_pipe_exits_quietly(
    store_url: str, stored: tuple[str, bytes, bytes], tmp_path: Path
) -> None:
    _, digest, first_bytes = stored
    command = [sys.executable, "-m", "baostore.cli", "get", digest.hex(), "--store", store_url]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [*command, "-o", "-", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(10)  # what `head -c 10` takes before it exits
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == EXIT_BROKEN_PIPE, err
    assert head == first_bytes
    assert err == ""
