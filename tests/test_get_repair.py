"""``baostore get`` completes a target of any shape: damage anywhere, holes, too short or too
long, a range file; it keeps what verifies, fetches only the chunks covering the rest, and never
leaves unverified bytes behind a name it renamed into place."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR, EXIT_OK
from baostore.cli.partial import PARTIAL_SUFFIX
from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import Stat, StoreError

from tests.adversarial.faults import Fault, FaultyStore
from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

BLOB = random.Random(21).randbytes(1_500_000)
DIGEST = bao.hash(BLOB)
GROUP = bao.group_size(4)


class CountingStore(ForwardingStore):
    """Counts Stats and records the digest of every Read; fails reads after ``break_after``."""

    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.stats = 0
        self.reads: list[bytes] = []
        self.break_after: int | None = None

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        self.stats += 1
        return stat

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None
        self.reads.append(digest)
        if self.break_after is not None and len(self.reads) > self.break_after:
            raise StoreError("server lost its disk")
        return pieces

    def reset(self) -> None:
        self.stats = 0
        self.reads.clear()
        self.break_after = None


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, CountingStore]]:
    store = CountingStore(small_chunk_memory_store())
    assert store.put(BLOB) == DIGEST
    with serve_in_thread(store) as url:
        yield url, store


@pytest.fixture
def server(served: tuple[str, CountingStore]) -> tuple[str, CountingStore]:
    served[1].reset()
    return served


def get(url: str, target: Path, *extra: str) -> int:
    return main(["get", DIGEST.hex(), "--store", url, "-o", str(target), "--no-cache", *extra])


def covering(store: CountingStore, ranges: list[tuple[int, int]]) -> set[bytes]:
    """The chunks covering the groups that hold any byte of ``ranges``."""
    chunks = store.inner.chunks(DIGEST) or ()
    wanted: set[bytes] = set()
    offset = 0
    for chunk in chunks:
        for start, end in ranges:
            low, high = start // GROUP * GROUP, -(-end // GROUP) * GROUP
            if offset < high and low < offset + chunk.size:
                wanted.add(chunk.digest)
        offset += chunk.size
    return wanted


def damaged(data: bytes, *offsets: int) -> bytes:
    copy = bytearray(data)
    for offset in offsets:
        copy[offset] ^= 0x5A
    return bytes(copy)


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# -- repairing in place ---------------------------------------------------------------------


def test_damage_at_the_first_a_middle_and_the_last_group_fetches_only_their_chunks(
    server: tuple[str, CountingStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    spots = [0, 700_000, len(BLOB) - 1]
    target.write_bytes(damaged(BLOB, *spots))
    inode = target.stat().st_ino
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert target.stat().st_ino == inode  # completed in place: the same file, never copied
    assert files_in(tmp_path) == ["out.bin"]
    assert store.stats == 1
    assert sorted(store.reads) == sorted(covering(store, [(s, s + 1) for s in spots]))
    err = capsys.readouterr().err
    assert "(in place)" in err and "not downloaded" in err


def test_a_target_that_already_is_the_blob_costs_one_stat(
    server: tuple[str, CountingStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(BLOB)
    before = target.stat()
    assert get(url, target) == EXIT_OK
    assert (store.stats, store.reads) == (1, [])
    assert "already is the blob" in capsys.readouterr().err
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_sparse_target_gets_only_its_holes_filled(
    server: tuple[str, CountingStore], tmp_path: Path
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    holes = [(200_000, 260_000), (1_000_000, 1_010_000)]
    with target.open("wb") as file:
        file.write(BLOB)
        for start, end in holes:  # punch holes: what a parallel range download leaves
            file.seek(start)
            file.write(bytes(end - start))
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert sorted(store.reads) == sorted(covering(store, holes))


def test_a_truncated_target_gets_its_tail(
    server: tuple[str, CountingStore], tmp_path: Path
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(BLOB[:1_200_000])
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert sorted(store.reads) == sorted(covering(store, [(1_200_000, len(BLOB))]))


def test_an_extended_target_is_cut_without_a_read(
    server: tuple[str, CountingStore], tmp_path: Path
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(BLOB + b"trailing junk")
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert (store.stats, store.reads) == (1, [])


def test_a_range_file_is_completed_the_same_way(
    server: tuple[str, CountingStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    target = tmp_path / "part.bin"
    start, end = 100_000, 900_000
    target.write_bytes(damaged(BLOB[start:end], 400_000 - start))
    assert get(url, target, "--range", f"{start}:{end}") == EXIT_OK
    assert target.read_bytes() == BLOB[start:end]
    # The damaged group, and the groups the range cuts (unverifiable from the file alone).
    expected = covering(store, [(400_000, 400_001), (start, start + 1), (end - 1, end)])
    assert set(store.reads) == expected and len(store.reads) == len(expected)
    assert files_in(tmp_path) == ["part.bin"]
    # Its cut edge groups cannot be verified from the file alone: each get reads their chunks.
    store.reset()
    assert get(url, target, "--range", f"{start}:{end}") == EXIT_OK
    assert set(store.reads) == covering(store, [(start, start + 1), (end - 1, end)])
    # A range on group boundaries is checked whole: once complete, it costs one Stat.
    aligned = tmp_path / "aligned.bin"
    start, end = 6 * GROUP, 50 * GROUP
    aligned.write_bytes(BLOB[start:end])
    store.reset()
    assert get(url, aligned, "--range", f"{start}:{end}") == EXIT_OK
    assert (store.stats, store.reads) == (1, [])
    assert "already is the blob" in capsys.readouterr().err


def test_no_resume_fetches_everything(server: tuple[str, CountingStore], tmp_path: Path) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(damaged(BLOB, 5))
    assert get(url, target, "--no-resume") == EXIT_OK
    assert target.read_bytes() == BLOB
    assert store.reads == [DIGEST]  # the whole blob in one stream


# -- what is not adopted ----------------------------------------------------------------------


@pytest.mark.parametrize("why", ["writable by others", "another hard link", "a symlink"])
def test_a_target_that_is_not_private_is_replaced_not_completed(
    server: tuple[str, CountingStore], tmp_path: Path, why: str
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    old = damaged(BLOB, 5)
    elsewhere = tmp_path / "elsewhere"
    if why == "writable by others":
        target.write_bytes(old)
        target.chmod(0o666)
    elif why == "another hard link":
        elsewhere.write_bytes(old)
        os.link(elsewhere, target)
    else:
        elsewhere.write_bytes(old)
        target.symlink_to(elsewhere)
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB and not target.is_symlink()
    assert store.reads == [DIGEST]  # its bytes could change under us: none kept
    if why != "writable by others":
        assert elsewhere.read_bytes() == old  # the other name's file is left alone


# -- failures ---------------------------------------------------------------------------------


class LiarAfterFirstRead(ForwardingStore):
    """Serves the first Read honestly, then inverts every byte it sends."""

    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.reads = 0

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        self.reads += 1
        if pieces is None or self.reads == 1:
            return pieces
        return (bytes(byte ^ 0xFF for byte in piece) for piece in pieces)


def test_a_lying_server_during_a_repair_writes_nothing_false(tmp_path: Path) -> None:
    honest = small_chunk_memory_store()
    honest.put(BLOB)
    target = tmp_path / "out.bin"
    spots = [0, 300_000, 700_000, 1_100_000]
    original = damaged(BLOB, *spots)
    target.write_bytes(original)
    with serve_in_thread(LiarAfterFirstRead(honest)) as url:
        assert (
            main(
                [
                    "get",
                    DIGEST.hex(),
                    "--store",
                    url,
                    "-o",
                    str(target),
                    "--no-cache",
                    "--no-progress",
                ]
            )
            == EXIT_ERROR
        )
    # The adopted target is given back: each byte is what it was, or the blob's (verified).
    result = target.read_bytes()
    assert len(result) == len(BLOB)
    assert all(r in (o, b) for r, o, b in zip(result, original, BLOB, strict=True))
    assert result[:GROUP] == BLOB[:GROUP]  # the first spot was repaired from the honest Read
    assert result != BLOB  # the lies stopped the repair before the end
    assert files_in(tmp_path) == ["out.bin"]  # no partial left


def test_a_lying_server_never_gets_a_new_file_renamed_into_place(tmp_path: Path) -> None:
    honest = small_chunk_memory_store()
    honest.put(BLOB)
    liar = FaultyStore(honest, Fault("flip_read", target=0, position=999))
    target = tmp_path / "out.bin"
    with serve_in_thread(liar) as url:
        assert get(url, target) == EXIT_ERROR
    assert files_in(tmp_path) == []


def test_an_interrupted_repair_gives_the_target_back_and_continues(
    server: tuple[str, CountingStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    spots = [10_000, 400_000, 800_000, 1_300_000]
    target.write_bytes(damaged(BLOB, *spots))
    store.break_after = 2  # the server fails at the third chunk
    assert get(url, target) == EXIT_ERROR
    assert "given back" in capsys.readouterr().err
    assert files_in(tmp_path) == ["out.bin"]
    store.reset()
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    # The first two damaged spots were repaired before the failure: only the rest is fetched.
    assert sorted(store.reads) == sorted(covering(store, [(s, s + 1) for s in spots[2:]]))


def test_the_partial_is_preferred_to_the_target(
    server: tuple[str, CountingStore], tmp_path: Path
) -> None:
    url, store = server
    target = tmp_path / "out.bin"
    target.write_bytes(b"an older file of the same name")
    partial = tmp_path / f"out.bin.{DIGEST.hex()[:32]}{PARTIAL_SUFFIX}"
    partial.write_bytes(BLOB[:1_000_000])
    partial.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert get(url, target) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert sorted(store.reads) == sorted(covering(store, [(1_000_000, len(BLOB))]))


# -- trusted stores: a local store, a cache tier, substituters ------------------------------


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stores.toml"
    path.write_text(text)
    return path


def test_repair_from_trusted_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "local"
    honest = small_chunk_memory_store()
    honest.put(BLOB)
    with serve_in_thread(honest) as url:
        setups = {
            "local": ["--store", local.as_uri()],
            "cache": [
                "--config",
                str(
                    config(
                        tmp_path,
                        f'[stores.near]\npath = "near"\n[stores.far]\nurl = "{url}"\n'
                        '[stores.root]\ntype = "cache"\nnear = "near"\nfar = "far"\n',
                    )
                ),
            ],
            "substituters": [
                "--config",
                str(
                    config(
                        tmp_path,
                        f'[stores.a]\nurl = "{url}"\n[stores.root]\n'
                        'type = "substituters"\nmembers = ["a"]\n',
                    )
                ),
            ],
        }
        assert main(["put", str(_written(tmp_path / "src", BLOB)), *setups["local"]]) == EXIT_OK
        for name, options in setups.items():
            target = tmp_path / f"{name}.bin"
            target.write_bytes(damaged(BLOB, 3, 900_000))
            inode = target.stat().st_ino
            assert main(["get", DIGEST.hex(), "-o", str(target), *options]) == EXIT_OK, name
            assert target.read_bytes() == BLOB, name
            assert target.stat().st_ino == inode, name
            assert main(["get", DIGEST.hex(), "-o", str(target), *options]) == EXIT_OK, name
            assert "already is the blob" in capsys.readouterr().err


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
