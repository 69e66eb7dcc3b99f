"""The baostore command: put/get/stat against a gRPC server and a file store, and its errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, exit_status
from baostore.cli.progress import MIN_SIZE_FOR_BAR, bar_wanted
from baostore.errors import (
    InvalidDigestError,
    InvalidRequestError,
    NotFoundError,
    StoreError,
    UnavailableError,
    VerificationError,
)
from baostore.store.chunked import ChunkedStore
from blake3 import blake3

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import RecordingStore, small_chunk_memory_store

MISSING = "07" * 32


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with serve_in_thread(small_chunk_memory_store()) as url:
        yield url


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(400_000)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path, data


def put(path: Path, store: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["put", str(path), "--store", store]) == EXIT_OK
    return capsys.readouterr().out.strip()


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".part"))


def test_put_get_round_trip_over_grpc(
    server_url: str, source: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = source
    digest = put(path, server_url, capsys)
    assert digest == blake3(data).hexdigest()
    target = tmp_path / "copy.bin"
    assert main(["get", digest, "--store", server_url, "-o", str(target)]) == EXIT_OK
    assert target.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_file_store_and_b3_digest(
    source: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = source
    store = (tmp_path / "store").as_uri()
    digest = put(path, store, capsys)
    b3 = "b3:" + __import__("base64").b64encode(bytes.fromhex(digest)).decode()
    target = tmp_path / "copy.bin"
    assert main(["get", b3, "--store", store, "-o", str(target)]) == EXIT_OK
    assert target.read_bytes() == data


def test_store_from_environment(
    server_url: str,
    source: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BAOSTORE_URL", server_url)
    path, data = source
    assert main(["put", str(path)]) == EXIT_OK
    digest = capsys.readouterr().out.strip()
    assert main(["stat", digest, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["size"] == len(data)


def test_put_from_stdin(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = os.urandom(5000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["put", "-", "--store", server_url]) == EXIT_OK
    assert capsys.readouterr().out.strip() == blake3(data).hexdigest()


def test_get_range_and_stdout(
    server_url: str,
    source: tuple[Path, bytes],
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    path, data = source
    assert main(["put", str(path), "--store", server_url]) == EXIT_OK
    digest = capsysbinary.readouterr().out.decode().strip()
    target = tmp_path / "part.bin"
    args = ["get", digest, "--store", server_url]
    assert main([*args, "-o", str(target), "--range", "100000:300000"]) == EXIT_OK
    assert target.read_bytes() == data[100_000:300_000]
    assert main([*args, "-o", str(target), "--range", "399990:"]) == EXIT_OK
    assert target.read_bytes() == data[399_990:]
    capsysbinary.readouterr()
    assert main([*args, "-o", "-", "--range", ":16"]) == EXIT_OK
    assert capsysbinary.readouterr().out == data[:16]


def test_stat_json_and_text(
    server_url: str, source: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = source
    digest = put(path, server_url, capsys)
    args = ["stat", digest, "--store", server_url]
    assert main([*args, "--json", "--with-bao", "--shift", "2", "--format", "leaves"]) == EXIT_OK
    record = json.loads(capsys.readouterr().out)
    assert record["digest"] == digest and record["size"] == len(data)
    assert sum(chunk["size"] for chunk in record["chunks"]) == len(data)
    assert (record["bao_shift"], record["bao_format"]) == (2, "leaves")
    outboard = bytes.fromhex(record["bao"])
    assert record["bao_size"] == len(outboard) == bao.outboard_size(len(data), 2, "leaves")
    verifier = bao.Verifier(bytes.fromhex(digest), len(data), outboard, shift=2, format="leaves")
    assert verifier.update(data) + verifier.finalize() == data

    assert main(args) == EXIT_OK
    text = capsys.readouterr().out
    assert f"digest      {digest}" in text and f"size        {len(data)} bytes" in text


def test_missing_blob_exits_3_and_writes_nothing(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.bin"
    assert main(["get", MISSING, "--store", server_url, "-o", str(target)]) == EXIT_NOT_FOUND
    assert not target.exists() and leftovers(tmp_path) == []
    assert main(["stat", MISSING, "--store", server_url]) == EXIT_NOT_FOUND
    err = capsys.readouterr().err
    assert f"baostore: error: blob {MISSING} not found" in err
    assert "Traceback" not in err


def test_unreachable_server_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(small_chunk_memory_store()) as url:
        pass
    target = tmp_path / "out.bin"
    assert main(["get", MISSING, "--store", url, "-o", str(target)]) == EXIT_ERROR
    assert not target.exists() and leftovers(tmp_path) == []
    err = capsys.readouterr().err
    assert err.startswith(f"baostore: error: cannot reach server at {url}")
    assert err.count("\n") == 1


class BreakingStore(RecordingStore):
    """Its reads fail once 150 kB have been served, in whatever read."""

    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.served = 0

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None

        def until_broken() -> Iterator[bytes]:
            for piece in pieces:
                if self.served > 150_000:
                    raise StoreError("disk on fire")
                self.served += len(piece)
                yield piece

        return until_broken()


def test_failed_get_midway_leaves_no_file(
    source: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = source
    inner = small_chunk_memory_store()
    digest = inner.put(data).hex()
    with serve_in_thread(BreakingStore(inner)) as url:
        target = tmp_path / "out.bin"
        assert main(["get", digest, "--store", url, "-o", str(target)]) == EXIT_ERROR
    assert not target.exists() and leftovers(tmp_path) == []
    err = capsys.readouterr().err  # the server's own trouble is its log's business
    assert "server error (internal)" in err and "disk on fire" not in err


def test_range_past_the_end(
    server_url: str, source: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = source
    digest = put(path, server_url, capsys)
    target = tmp_path / "out.bin"
    args = ["get", digest, "--store", server_url, "-o", str(target)]
    assert main([*args, "--range", f"0:{len(data) + 1}"]) == EXIT_ERROR
    assert not target.exists()
    assert "reaches past the end" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["remote", "local"])
@pytest.mark.parametrize("offset", [0, 1, 100_000])
def test_a_range_starting_at_or_past_the_end_fails(
    server_url: str,
    source: tuple[Path, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
    offset: int,
) -> None:
    path, data = source
    store = server_url if where == "remote" else (tmp_path / "store").as_uri()
    digest = put(path, store, capsys)
    target = tmp_path / "out.bin"
    start = len(data) + offset
    args = ["get", digest, "--store", store, "-o", str(target), "--range", f"{start}:"]
    assert main(args) == EXIT_ERROR
    assert not target.exists() and leftovers(tmp_path) == []
    assert f"range {start}: starts past the last byte of the blob" in capsys.readouterr().err


def test_an_open_range_from_0_of_the_empty_blob_is_the_blob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    store = (tmp_path / "store").as_uri()
    digest = put(empty, store, capsys)
    target = tmp_path / "out.bin"
    assert main(["get", digest, "--store", store, "-o", str(target), "--range", "0:"]) == EXIT_OK
    assert target.read_bytes() == b""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stat", "abc"], "not a digest: 'abc'"),
        (["get", "zz" * 32, "-o", "x"], "not a digest"),
        (["get", MISSING, "-o", "x", "--range", "5:1"], "need 0 <= START <= END"),
        (["get", MISSING, "-o", "x", "--range", "5:5"], "range '5:5' is empty"),
        (["get", MISSING, "-o", "x", "--shift", "33"], "shift must be in 0..32"),
        (["stat", MISSING, "--format", "post_order"], "invalid choice"),
        (["get", MISSING], "-o/--output"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_bad_store_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stat", MISSING, "--store", "ftp://example.org"]) == EXIT_USAGE
    assert "bad store URL" in capsys.readouterr().err


def test_put_of_a_missing_file(server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["put", "/nonexistent/file", "--store", server_url]) == EXIT_ERROR
    assert "/nonexistent/file: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["serve"], ["put"], ["get"], ["stat"]])
def test_help_explains(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--store" in text or not command
    assert "example" in text
    if not command:
        assert "BAOSTORE_URL" in text and "exit status" in text and "3  blob not found" in text


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "usage: baostore" in result.stdout


def test_progress_bars_only_on_a_terminal_for_big_transfers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not bar_wanted(1 << 30)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert bar_wanted(1 << 30) and bar_wanted(None)
    assert not bar_wanted(MIN_SIZE_FOR_BAR - 1)
    assert not bar_wanted(1 << 30, enabled=False)


def test_put_with_a_progress_bar(
    server_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = os.urandom(MIN_SIZE_FOR_BAR)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert put(path, server_url, capsys) == blake3(data).hexdigest()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("gone"), EXIT_NOT_FOUND),
        (InvalidRequestError("bad shift"), EXIT_USAGE),
        (InvalidDigestError("bad digest"), EXIT_USAGE),
        (UnavailableError("down"), EXIT_ERROR),
        (VerificationError("lied"), EXIT_ERROR),
        (StoreError("broken"), EXIT_ERROR),
    ],
)
def test_a_failed_store_operation_exits_by_its_kind(error: StoreError, status: int) -> None:
    assert exit_status(error) == status
