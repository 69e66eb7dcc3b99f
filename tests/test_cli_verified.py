"""``baostore get`` from a gRPC server: verified, chunk cache, ranges, resume."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR, EXIT_OK
from baostore.cli.fetch import complete_target
from baostore.cli.partial import PARTIAL_SUFFIX, partial_path
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import StoreError
from baostore.verify import ReadOptions, fetch_layout
from baostore.verify.repair import StoreBlob

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import RecordingStore, small_chunk_memory_store

BLOB = os.urandom(600_000)


class CountingStore(RecordingStore):
    """Records the digest of every Read; ``break_after`` bytes served, reads fail (server loss)."""

    def __init__(self, inner: ChunkedStore) -> None:
        super().__init__(inner)
        self.reads: list[bytes] = []
        self.break_after: int | None = None
        self.served = 0

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None
        self.reads.append(digest)

        def counted() -> Iterator[bytes]:
            for piece in pieces:
                if self.break_after is not None and self.served + len(piece) > self.break_after:
                    raise StoreError("server lost its disk")
                self.served += len(piece)
                yield piece

        return counted()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, CountingStore, bytes]]:
    store = CountingStore(small_chunk_memory_store())
    digest = store.put(BLOB)
    with serve_in_thread(store) as url:
        yield url, store, digest


@pytest.fixture
def counting(server: tuple[str, CountingStore, bytes]) -> tuple[str, CountingStore, bytes]:
    _, store, _ = server
    store.reads.clear()
    store.break_after = None
    store.served = 0
    return server


def get(url: str, digest: bytes, target: Path, *extra: str) -> int:
    return main(["get", digest.hex(), "--store", url, "-o", str(target), *extra])


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def chunk_count(store: CountingStore, digest: bytes) -> int:
    return len(store.inner.chunks(digest) or ())


def test_second_get_takes_every_chunk_from_the_cache(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path, private_user_cache: Path
) -> None:
    url, store, digest = counting
    assert get(url, digest, tmp_path / "a.bin") == EXIT_OK
    assert store.reads == [digest]  # nothing cached yet: one Read streams the whole blob
    assert chunk_count(store, digest) > 3
    assert (private_user_cache / "baostore" / "chunks").is_dir()
    store.reads.clear()
    assert get(url, digest, tmp_path / "b.bin") == EXIT_OK
    assert store.reads == []
    assert (tmp_path / "b.bin").read_bytes() == BLOB
    assert files_in(tmp_path) == ["a.bin", "b.bin"]


def test_chunks_shared_with_an_earlier_blob_are_not_fetched(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path
) -> None:
    url, store, digest = counting
    assert get(url, digest, tmp_path / "a.bin") == EXIT_OK
    longer = BLOB + os.urandom(200_000)
    longer_digest = store.put(longer)
    store.reads.clear()
    assert get(url, longer_digest, tmp_path / "longer.bin") == EXIT_OK
    assert (tmp_path / "longer.bin").read_bytes() == longer
    shared = set(store.inner.chunks(digest) or ()) & set(store.inner.chunks(longer_digest) or ())
    assert shared and not {chunk.digest for chunk in shared} & set(store.reads)


def test_no_cache_and_a_chosen_cache(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path, private_user_cache: Path
) -> None:
    url, store, digest = counting
    assert get(url, digest, tmp_path / "a.bin", "--no-cache") == EXIT_OK
    assert get(url, digest, tmp_path / "b.bin", "--no-cache") == EXIT_OK
    assert store.reads == [digest, digest]
    assert not (private_user_cache / "baostore").exists()
    chosen = tmp_path / "my-cache"
    assert get(url, digest, tmp_path / "c.bin", "--cache", chosen.as_uri()) == EXIT_OK
    store.reads.clear()
    assert get(url, digest, tmp_path / "d.bin", "--cache", chosen.as_uri()) == EXIT_OK
    assert store.reads == []


def test_range_fetches_only_covering_chunks(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path
) -> None:
    url, store, digest = counting
    target = tmp_path / "range.bin"
    assert get(url, digest, target, "--range", "300000:304096", "--no-cache") == EXIT_OK
    assert target.read_bytes() == BLOB[300_000:304_096]
    assert 1 <= len(store.reads) <= 2
    assert files_in(tmp_path) == ["range.bin"]


def test_interrupted_get_resumes_from_its_verified_prefix(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store, digest = counting
    target = tmp_path / "out.bin"
    store.break_after = 350_000
    assert get(url, digest, target, "--no-cache") == EXIT_ERROR
    err = capsys.readouterr().err
    partial = partial_path(target, digest)
    assert not target.exists() and partial.exists()
    assert "server error (internal)" in err and f"in {partial}" in err
    kept = partial.stat().st_size
    assert 0 < kept <= 350_000 and partial.read_bytes() == BLOB[:kept]

    store.break_after = None
    store.reads.clear()
    assert get(url, digest, target, "--no-cache") == EXIT_OK
    assert target.read_bytes() == BLOB
    assert files_in(tmp_path) == ["out.bin"]
    assert (
        f"resuming {partial.name}: {kept} of {len(BLOB)} bytes verified" in capsys.readouterr().err
    )
    # Only the chunks from the one holding the kept prefix's end onwards were fetched again.
    chunks = store.inner.chunks(digest) or ()
    ends = [sum(chunk.size for chunk in chunks[: index + 1]) for index in range(len(chunks))]
    first_needed = next(index for index, end in enumerate(ends) if end > kept)
    needed = [chunk.digest for chunk in chunks[first_needed:]]
    assert sorted(store.reads) == sorted(needed)  # fetched in parallel: in any order


def test_a_damaged_partial_is_cut_to_what_verifies(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, digest = counting
    target = tmp_path / "out.bin"
    damaged = bytearray(BLOB[:200_000])
    damaged[100_000] ^= 0x40
    partial_path(target, digest).write_bytes(damaged + b"garbage past the end")
    assert get(url, digest, target, "--no-cache") == EXIT_OK
    assert target.read_bytes() == BLOB
    assert "resuming" in capsys.readouterr().err  # the groups before the damage were kept


def test_no_resume_starts_over_and_another_blobs_partial_is_left_alone(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path
) -> None:
    url, store, digest = counting
    target = tmp_path / "out.bin"
    other = tmp_path / f"out.bin.{'ab' * 16}{PARTIAL_SUFFIX}"
    other.write_bytes(b"another blob's partial download")
    partial_path(target, digest).write_bytes(BLOB[:300_000])
    assert get(url, digest, target, "--no-cache", "--no-resume") == EXIT_OK
    assert target.read_bytes() == BLOB
    assert store.reads == [digest]  # everything fetched again
    assert files_in(tmp_path) == sorted(["out.bin", other.name])


def test_ctrl_c_keeps_the_partial_and_progress_counts_verified_bytes(
    counting: tuple[str, CountingStore, bytes], tmp_path: Path
) -> None:
    url, _, digest = counting
    target = tmp_path / "out.bin"
    notes: list[str] = []
    advanced: list[int] = []

    def interrupt_after_two(nbytes: int) -> None:
        advanced.append(nbytes)
        if len(advanced) == 2:
            raise KeyboardInterrupt

    def complete(advance: Callable[[int], None]) -> None:
        layout = fetch_layout(client, digest, ReadOptions())
        assert layout is not None
        with StoreBlob(client, layout) as blob:
            complete_target(
                blob, target, 0, len(BLOB), resume=True, note=notes.append, advance=advance
            )

    with GrpcBlobStore.from_url(url) as client:
        with pytest.raises(KeyboardInterrupt):
            complete(interrupt_after_two)
        partial = partial_path(target, digest)
        kept = partial.stat().st_size
        assert kept == sum(advanced) and partial.read_bytes() == BLOB[:kept]
        assert notes == [
            f"kept {kept} verified bytes in {partial}; the same get continues from there"
        ]

        advanced.clear()
        complete(advanced.append)
    assert target.read_bytes() == BLOB and not partial.exists()
    assert advanced[0] == kept and sum(advanced) == len(BLOB)  # the bar starts at the kept part
