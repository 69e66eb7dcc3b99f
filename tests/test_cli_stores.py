"""The store commands: ``ls`` and ``rm``, and read-only commands on a store that does not exist
(they say so instead of creating it; only ``put`` and ``serve`` create a store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from baostore.cli import main
from baostore.cli.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE
from blake3 import blake3

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

MISSING = "07" * 32


def one_line(text: str) -> str:
    """The only line of ``text`` (an error must be a single line, no traceback)."""
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return (tmp_path / "store").as_uri()


def put(capsys: pytest.CaptureFixture[str], store: str, *paths: Path) -> list[str]:
    assert main(["put", "-q", *map(str, paths), "--store", store]) == EXIT_OK
    return capsys.readouterr().out.split()


def test_ls_lists_digest_size_and_chunk_count(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"small")
    large.write_bytes(os.urandom(3 << 20))
    digests = put(capsys, store, small, large)
    assert main(["ls", "--store", store]) == EXIT_OK
    rows = sorted(line.split() for line in capsys.readouterr().out.splitlines())
    by_digest = {row[0]: row for row in rows}
    assert set(by_digest) == set(digests)
    assert by_digest[digests[0]][1:] == ["5", "1"]
    assert by_digest[digests[1]][1] == str(3 << 20)
    assert int(by_digest[digests[1]][2]) > 1
    assert main(["ls", "--json", "--store", store]) == EXIT_OK
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {record["digest"]: record["size"] for record in records} == {
        digests[0]: 5,
        digests[1]: 3 << 20,
    }
    assert all(set(record) == {"digest", "size", "chunk_count"} for record in records)


def test_rm_removes_and_says_which_were_not_there(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    # Over the largest chunk, so several chunks: a blob of one chunk is also a chunk object,
    # which stays readable by its digest after rm until gc reclaims it.
    first.write_bytes(os.urandom(3 << 20))
    second.write_bytes(b"b")
    digests = put(capsys, store, first, second)
    assert main(["rm", MISSING, digests[0], "--store", store]) == EXIT_NOT_FOUND
    captured = capsys.readouterr()
    assert one_line(captured.err) == f"baostore: error: blob {MISSING} not found in {store}"
    assert main(["ls", "--store", store]) == EXIT_OK
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [digests[1]]
    assert main(["stat", digests[0], "--store", store]) == EXIT_NOT_FOUND
    assert main(["rm", "--force", MISSING, digests[1], "--store", store]) == EXIT_OK
    assert main(["ls", "--store", store]) == EXIT_OK
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("command", [["ls"], ["rm", MISSING]])
def test_a_grpc_store_cannot_be_listed_or_removed_from(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_in_thread(small_chunk_memory_store()) as url:
        assert main([*command, "--store", url]) == EXIT_USAGE
    message = one_line(capsys.readouterr().err)
    assert message.startswith(f"baostore: error: {url}: the BlobService protocol has no call")


@pytest.mark.parametrize(
    "command",
    [
        ["stat", MISSING],
        ["get", MISSING, "-o", "out.bin"],
        ["fsck"],
        ["ls"],
        ["rm", MISSING],
    ],
)
def test_read_only_commands_do_not_create_a_missing_store(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "mistyped" / "store"
    assert main([*command, "--store", missing.as_uri()]) == EXIT_USAGE
    message = one_line(capsys.readouterr().err)
    assert message.startswith(f"baostore: error: no store at {missing} ")
    assert not missing.parent.exists()
    assert not (tmp_path / "out.bin").exists()


def test_put_creates_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "data"
    source.write_bytes(b"data")
    store = tmp_path / "new" / "store"
    assert put(capsys, store.as_uri(), source) == [blake3(b"data").hexdigest()]
    assert store.is_dir()


def serve_announcement(store: str) -> str:
    """The line ``baostore serve`` announces itself with (it is stopped right after)."""
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", store]
    with subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        line = process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0, line
    return line.strip()


def test_serve_creates_a_missing_store_and_says_so(tmp_path: Path) -> None:
    store = tmp_path / "new" / "store"
    first = serve_announcement(store.as_uri())
    assert first.startswith(f"baostore: serving {store.as_uri()} on 127.0.0.1:")
    assert first.endswith(" (a new, empty store: there was none at that path)")
    assert store.is_dir()
    second = serve_announcement(store.as_uri())
    assert "new" not in second.partition(" on ")[2]
