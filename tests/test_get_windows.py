"""Completing, checking and seeding window by window: a blob whose bao and chunk list take many
Stat answers (1 KiB chunks, an 8 KiB Stat limit) is checked and repaired through windows, and
seeds are cut with the chunking the store's Stat answer names."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_DAMAGED, EXIT_OK
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import Stat

from tests.support.grpc_server import serve_in_thread

BLOB = random.Random(41).randbytes(3 << 20)
DIGEST = bao.hash(BLOB)
STAT_LIMIT = 8 << 10
GROUP = bao.group_size(4)


class Counting(ForwardingStore):
    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.stats = 0
        self.reads: list[bytes] = []

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        self.stats += 1
        return stat

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        self.reads.append(digest)
        return self.inner.read_raw(digest)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Counting]]:
    inner = open_store("memory://?chunk_avg=1KiB")
    assert isinstance(inner, ChunkedStore)
    store = Counting(inner)
    assert store.put(BLOB) == DIGEST
    with serve_in_thread(store, stat_limit=STAT_LIMIT) as url:
        yield url, store


@pytest.fixture
def server(served: tuple[str, Counting]) -> tuple[str, Counting]:
    served[1].stats = 0
    served[1].reads.clear()
    return served


def covering(store: Counting, digest: bytes, spots: list[int]) -> set[bytes]:
    chunks = store.inner.chunks(digest) or ()
    wanted, offset = set(), 0
    for chunk in chunks:
        for spot in spots:
            low = spot // GROUP * GROUP
            if offset < low + GROUP and low < offset + chunk.size:
                wanted.add(chunk.digest)
        offset += chunk.size
    return wanted


def damaged(data: bytes, *spots: int) -> bytes:
    copy = bytearray(data)
    for spot in spots:
        copy[spot] ^= 0x33
    return bytes(copy)


def get(url: str, target: Path, *extra: str) -> int:
    return main(["get", DIGEST.hex(), "--store", url, "-o", str(target), "--no-cache", *extra])


def test_a_target_is_checked_window_by_window(
    server: tuple[str, Counting], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(BLOB)
    assert get(url, target) == EXIT_OK
    assert "already is the blob" in capsys.readouterr().err
    assert store.reads == []
    assert store.stats > 4  # the proofs came in many windows


def test_a_damaged_target_is_repaired_window_by_window(
    server: tuple[str, Counting], tmp_path: Path
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    spots = [100, 1_500_000, len(BLOB) - 5]
    target.write_bytes(damaged(BLOB, *spots))
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert sorted(store.reads) == sorted(covering(store, DIGEST, spots))
    assert store.stats > 4  # the proofs came in many windows


def test_verify_against_a_store_that_answers_windows(
    server: tuple[str, Counting], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    path = tmp_path / "copy.bin"
    path.write_bytes(damaged(BLOB, 2_000_000)[:2_500_000])
    capsys.readouterr()
    assert main(["verify", str(path), DIGEST.hex(), "--store", url, "--json"]) == EXIT_DAMAGED
    report = json.loads(capsys.readouterr().out)
    bad = 2_000_000 // GROUP * GROUP
    cut = 2_500_000 // GROUP * GROUP
    assert report["verified"] == [[0, bad], [bad + GROUP, cut]]
    assert report["damaged"] == [[bad, bad + GROUP], [cut, 2_500_000]]
    assert report["missing"] == [[2_500_000, len(BLOB)]]
    assert store.stats > 4  # the proofs came in many windows


def test_seeds_are_cut_with_the_chunking_the_store_names(tmp_path: Path) -> None:
    old = random.Random(42).randbytes(2 << 20)
    new = bytearray(old)
    new[700_000:700_000] = b"an insertion that shifts everything after it"
    inner = open_store("memory://?chunk_avg=1KiB")
    assert isinstance(inner, ChunkedStore)
    store = Counting(inner)
    old_chunks = {chunk.digest for chunk in inner.chunks(store.put(old)) or ()}
    digest = store.put(bytes(new))
    edited = {chunk.digest for chunk in inner.chunks(digest) or ()} - old_chunks
    seed = tmp_path / "old.bin"
    seed.write_bytes(old)
    target = tmp_path / "new.bin"
    with serve_in_thread(store, stat_limit=STAT_LIMIT) as url:
        command = ["get", digest.hex(), "--store", url, "-o", str(target), "--no-cache"]
        assert main([*command, "--seed", str(seed)]) == EXIT_OK
    assert target.read_bytes() == bytes(new)
    # 1 KiB chunks (not the default 512 KiB) found the seed's: only the edit's were fetched.
    assert 0 < len(edited) <= 4
    assert sorted(store.reads) == sorted(edited)
    assert os.path.getsize(target) == len(new)


def test_a_small_range_to_a_new_file_costs_what_a_read_costs(
    server: tuple[str, Counting], tmp_path: Path
) -> None:
    """Nothing to check: the blob is opened as a reader opens it (its first group), and the
    range's window is the reader's: two Stats, whatever the blob's size."""
    url, store = server
    target = tmp_path / "part.bin"
    start = len(BLOB) // 2 + 1000
    assert get(url, target, "--range", f"{start}:{start + 4096}") == EXIT_OK
    assert target.read_bytes() == BLOB[start : start + 4096]
    assert store.stats == 2
