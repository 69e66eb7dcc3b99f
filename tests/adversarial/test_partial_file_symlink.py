"""Resume never trusts the partial file: not its bytes (re-checked against the bao) and not what
it is. A symlink planted where the partial goes (a shared directory) must not let get truncate
or write the file it points to."""

from __future__ import annotations

import os
from pathlib import Path

from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_OK
from baostore.cli.partial import partial_path

from tests.adversarial.conftest import small_chunk_store
from tests.support.grpc_server import serve_in_thread

BLOB = os.urandom(200_000)


def test_a_symlink_in_place_of_the_partial_is_not_followed(tmp_path: Path) -> None:
    source = small_chunk_store()
    digest = source.put(BLOB)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"someone else's file, not a download")
    downloads = tmp_path / "shared"
    downloads.mkdir()
    target = downloads / "blob.bin"
    partial_path(target, digest).symlink_to(victim)
    with serve_in_thread(source) as url:
        command = ["get", digest.hex(), "--store", url, "-o", str(target), "--no-cache"]
        assert main(command) == EXIT_OK
    assert victim.read_bytes() == b"someone else's file, not a download"
    assert target.read_bytes() == BLOB and not target.is_symlink()
    assert bao.hash(target.read_bytes()) == digest
    assert sorted(path.name for path in downloads.iterdir()) == ["blob.bin"]
