"""hash_file (b3sum-class file hashing) and the bao CLI's outboard format, from Python."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from baostore import bao
from blake3 import blake3


@pytest.mark.parametrize("size", [0, 1, 1024, 16 * 1024 + 1, (1 << 20) + 7])
def test_hash_file_is_blake3_of_the_file(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    for threads in (None, 1, 2):
        assert bao.hash_file(path, threads) == blake3(data).digest()
    assert bao.hash_file(str(path)) == blake3(data).digest()


def test_hash_file_reads_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = random.Random(1).randbytes(100_000)
    pid = os.fork()
    if pid == 0:  # the child writes the pipe and leaves at once
        try:
            fifo.write_bytes(data)
        finally:
            os._exit(0)
    try:
        assert bao.hash_file(fifo) == blake3(data).digest()
    finally:
        os.waitpid(pid, 0)


def test_hash_file_errors_are_os_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        bao.hash_file(tmp_path / "missing")
    with pytest.raises(OSError):
        bao.hash_file(tmp_path)
    with pytest.raises(ValueError, match="threads"):
        bao.hash_file(tmp_path, 0)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 2048, 2049, 4097, 65 * 1024])
def test_bao_cli_outboard_round_trip(size: int) -> None:
    data = random.Random(size).randbytes(size)
    root, pre_order = bao.outboard(data, 0)
    encoded = bao.encode_bao_cli_outboard(pre_order, size)
    assert encoded[:8] == size.to_bytes(8, "little")
    assert bao.decode_bao_cli_outboard(encoded) == (size, pre_order)
    claimed, outboard = bao.decode_bao_cli_outboard(encoded)
    verifier = bao.Verifier(root, claimed, outboard, 0)
    assert verifier.update(data) + verifier.finalize() == data


def test_malformed_bao_cli_outboards() -> None:
    _, pre_order = bao.outboard(bytes(5000), 0)
    encoded = bao.encode_bao_cli_outboard(pre_order, 5000)
    for bad in (
        encoded[:7],
        encoded[:-1],
        encoded + b"\0",
        (6000).to_bytes(8, "little") + pre_order,
    ):
        with pytest.raises(bao.MalformedBaoError):
            bao.decode_bao_cli_outboard(bad)
    with pytest.raises(bao.MalformedBaoError):
        bao.encode_bao_cli_outboard(pre_order[:-1], 5000)
