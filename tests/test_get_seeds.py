"""Seeds: similar local files as chunk sources for ``get`` (an older version of the same image).
Only the chunks a seed lacks are fetched; a seed that lies or changes costs time, never
correctness."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_OK
from baostore.cli.fetch import SeedFiles, complete_target
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import DEFAULT_CHUNK_SIZES, ChunkedStore, ChunkSizes
from baostore.store.forwarding import ForwardingStore
from baostore.store.objects import memory_backend
from baostore.verify import ReadOptions, fetch_layout
from baostore.verify.ranges import Ranges
from baostore.verify.repair import StoreBlob
from baostore.verify.seeds import SeedChunks, cut_points
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.grpc_server import serve_in_thread

MiB = 1 << 20
OLD = random.Random(31).randbytes(12 * MiB)


def edited(data: bytes) -> bytes:
    """Three edits: bytes inserted, bytes overwritten, bytes deleted."""
    new = bytearray(data)
    del new[10 * MiB : 10 * MiB + 777]
    new[6 * MiB : 6 * MiB + 4096] = random.Random(1).randbytes(4096)
    new[2 * MiB : 2 * MiB] = b"inserted" * 100
    return bytes(new)


NEW = edited(OLD)
DIGEST = bao.hash(NEW)


class ReadRecorder(ForwardingStore):
    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.reads: list[bytes] = []

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        self.reads.append(digest)
        return self.inner.read_raw(digest)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, ReadRecorder, set[bytes]]]:
    store = ReadRecorder(ChunkedStore(memory_backend()))  # the default chunking
    old_chunks = {chunk.digest for chunk in store.inner.chunks(store.put(OLD)) or ()}
    assert store.put(NEW) == DIGEST
    new_chunks = {chunk.digest for chunk in store.inner.chunks(DIGEST) or ()}
    with serve_in_thread(store) as url:
        yield url, store, new_chunks - old_chunks


@pytest.fixture
def server(
    served: tuple[str, ReadRecorder, set[bytes]],
) -> tuple[str, ReadRecorder, set[bytes]]:
    served[1].reads.clear()
    return served


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_older_version_as_seed_leaves_only_the_edited_chunks_to_fetch(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store, edited_chunks = server
    seed = written(tmp_path / "old.img", OLD)
    target = tmp_path / "new.img"
    command = ["get", DIGEST.hex(), "--store", url, "-o", str(target), "--no-cache"]
    assert main([*command, "--seed", str(seed)]) == EXIT_OK
    assert target.read_bytes() == NEW
    assert 0 < len(edited_chunks) <= 6  # three edits: a chunk or two each
    assert sorted(store.reads) == sorted(edited_chunks)
    summary = capsys.readouterr().err
    assert "from seeds" in summary and "not downloaded" in summary


def test_a_seed_dir_and_an_unrelated_seed(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path
) -> None:
    url, store, edited_chunks = server
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    written(seeds / "unrelated.bin", random.Random(5).randbytes(3 * MiB))
    written(seeds / "old.img", OLD)
    target = tmp_path / "new.img"
    command = ["get", DIGEST.hex(), "--store", url, "-o", str(target), "--no-cache"]
    assert main([*command, "--seed-dir", str(seeds)]) == EXIT_OK
    assert target.read_bytes() == NEW
    assert sorted(store.reads) == sorted(edited_chunks)


def test_updating_a_file_in_place_with_itself_as_seed(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path
) -> None:
    url, store, edited_chunks = server
    image = written(tmp_path / "disk.img", OLD)
    command = ["get", DIGEST.hex(), "--store", url, "-o", str(image), "--no-cache"]
    assert main([*command, "--seed", str(image)]) == EXIT_OK
    assert image.read_bytes() == NEW
    assert sorted(store.reads) == sorted(edited_chunks)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["disk.img"]


def test_a_seed_that_changes_after_it_was_cut_costs_time_not_correctness(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path
) -> None:
    url, store, _ = server
    seed = written(tmp_path / "old.img", OLD)
    target = tmp_path / "new.img"
    notes: list[str] = []
    with GrpcBlobStore.from_url(url) as client:
        layout = fetch_layout(client, DIGEST, ReadOptions())
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            spans = blob.spans(0, blob.size)
            seeds = SeedChunks.index([seed], DEFAULT_CHUNK_SIZES, spans)
            # The seed is rewritten after it was cut: its chunks lie now (same size, other bytes).
            written(seed, random.Random(9).randbytes(len(OLD)))
            blob.use_cache(seeds)
            complete_target(blob, target, 0, len(NEW), resume=True, note=notes.append)
    assert target.read_bytes() == NEW
    assert set(store.reads) == {span.digest for span in spans}  # all from the store


def test_a_lying_seed_index_costs_time_not_correctness(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path
) -> None:
    url, store, _ = server
    seed = written(tmp_path / "old.img", OLD)
    target = tmp_path / "new.img"
    with GrpcBlobStore.from_url(url) as client:
        layout = fetch_layout(client, DIGEST, ReadOptions())
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            spans = blob.spans(0, blob.size)
            honest = SeedChunks.index([seed], DEFAULT_CHUNK_SIZES, spans)
            assert honest.found  # the lie is about chunks the seed does hold
            # Every found chunk points one byte off: the right size, the wrong bytes.
            lying = SeedChunks(
                {
                    digest: type(chunk)(chunk.path, chunk.offset + 1, chunk.size)
                    for digest, chunk in honest.found.items()
                }
            )
            blob.use_cache(lying)
            complete_target(blob, target, 0, len(NEW), resume=True, note=lambda _: None)
    assert target.read_bytes() == NEW
    assert set(store.reads) == {span.digest for span in spans}  # every chunk from the store


def test_seeds_with_a_trusted_store_are_not_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = (tmp_path / "store").as_uri()
    assert main(["put", str(written(tmp_path / "new", NEW)), "--store", store]) == EXIT_OK
    target = tmp_path / "out.img"
    seed = written(tmp_path / "old.img", OLD)
    assert (
        main(["get", DIGEST.hex(), "--store", store, "-o", str(target), "--seed", str(seed)])
        == EXIT_OK
    )
    assert target.read_bytes() == NEW
    assert "seeds are not needed" in capsys.readouterr().err


def test_seeds_for_a_range_to_stdout(
    server: tuple[str, ReadRecorder, set[bytes]],
    tmp_path: Path,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    url, store, edited_chunks = server
    seed = written(tmp_path / "old.img", OLD)
    start, end = 5 * MiB, 7 * MiB
    command = [
        "get",
        DIGEST.hex(),
        "--store",
        url,
        "-o",
        "-",
        "--no-cache",
        "--range",
        f"{start}:{end}",
        "--seed",
        str(seed),
    ]
    assert main(command) == EXIT_OK
    assert capfdbinary.readouterr().out == NEW[start:end]
    assert set(store.reads) <= edited_chunks


# -- cutting seeds as the store cuts blobs ----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 600_000),
    pieces=st.lists(st.integers(1, 200_000), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_cut_points_are_the_stores_chunks(size: int, pieces: list[int], seed: int) -> None:
    sizes = ChunkSizes(min=4096, avg=16384, max=65536)
    data = random.Random(seed).randbytes(size)
    stream: list[bytes] = []
    offset = 0
    while offset < size:  # the stream in pieces of any size
        step = pieces[len(stream) % len(pieces)]
        stream.append(data[offset : offset + step])
        offset += step
    cut = [(offset, bytes(chunk)) for offset, chunk in cut_points(stream, sizes)]
    assert b"".join(chunk for _, chunk in cut) == data
    assert [offset for offset, _ in cut] == [
        sum(len(c) for _, c in cut[:i]) for i in range(len(cut))
    ]
    store = ChunkedStore(memory_backend(), chunk_sizes=sizes)
    digest = store.put(data)
    chunks = store.chunks(digest) or ()
    expected = [chunk.digest for chunk in chunks] if chunks else ([digest] if data else [])
    assert [bao.hash(chunk) for _, chunk in cut] == expected


class FlappingSeeds(SeedChunks):
    """Seeds whose chunks read wrong the first time and right when looked at again: the reader
    cannot tell its damaged copy apart, so the get must go on without seeds."""

    def __init__(self, honest: SeedChunks) -> None:
        super().__init__(honest.found, honest.behind)
        self.looked: set[bytes] = set()

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = super().read_raw(digest)
        if pieces is None or digest in self.looked:
            return pieces
        self.looked.add(digest)
        return (bytes(byte ^ 1 for byte in piece) for piece in pieces)


class FlappingSeedFiles(SeedFiles):
    def chunks_for(self, blob: StoreBlob, missing: Ranges) -> SeedChunks:
        return FlappingSeeds(super().chunks_for(blob, missing))


def test_a_seed_that_flaps_between_reads_costs_time_not_correctness(
    server: tuple[str, ReadRecorder, set[bytes]], tmp_path: Path
) -> None:
    url, _, _ = server
    seed = written(tmp_path / "old.img", OLD)
    target = tmp_path / "new.img"
    notes: list[str] = []
    with GrpcBlobStore.from_url(url) as client:
        layout = fetch_layout(client, DIGEST, ReadOptions())
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            seeds = FlappingSeedFiles([seed])
            outcome = complete_target(
                blob, target, 0, len(NEW), resume=True, seeds=seeds, note=notes.append
            )
    assert target.read_bytes() == NEW
    assert "a seed changed while it was read: fetching the rest without seeds" in notes
    assert outcome.kept == 0
