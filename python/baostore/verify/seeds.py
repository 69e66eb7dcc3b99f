"""Seeds: local files that may hold chunks of a blob being fetched (an older version of the same
image, a neighbour's download, a copy with damage), used as a chunk source (desync's and
casync's seeds).

A seed is cut the way the store cuts blobs (FastCDC with the store's chunking parameters), so
the parts an edit left alone come out as the same chunks, with the same digests, even where the
edit shifted them; each part of the seed whose digest is a chunk the fetch wants is remembered.
A seed may also hold a chunk at the chunk's own offset (a damaged copy of the blob itself): those
places are looked at too. ``SeedChunks`` then serves the chunks it found, in front of the chunk
cache, to a verified reader.

Seeds are untrusted like any source: a seed chunk is read again when it is used (the file may
have changed since it was cut), and every byte of it goes through the reader's verifier before it
is written. A seed chunk that fails is a damaged cached copy to the reader: it is fetched from the
store instead. A seed that lies or changes costs time, never correctness.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Buffer

from baostore import bao
from baostore.errors import InvalidRequestError
from baostore.store.chunked import CUT_WINDOW, ChunkSizes
from baostore.store.interface import (
    PIECE_SIZE,
    BlobReader,
    BlobStore,
    BlobWriter,
    Stat,
    StatRequest,
)
from baostore.verify.layout import ChunkSpan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedChunk:
    """A chunk's bytes found in a seed file: ``size`` bytes at ``offset`` of ``path``."""

    path: Path
    offset: int
    size: int


class SeedChunks(BlobStore):
    """The wanted chunks found in seed files, served by digest, in front of ``behind`` (the chunk
    cache, which also receives the verified chunks a reader hands back; None: none is kept).

    A chunk cache to a verified reader (``VerifiedReader(cache=...)``): ``has``, ``read_raw``
    and ``put_chunk`` are what it uses. Counts what the seeds served (``seeded_chunks``,
    ``seeded_bytes``).
    """

    def __init__(self, found: dict[bytes, SeedChunk], behind: BlobStore | None = None) -> None:
        self.found = found
        self.behind = behind
        self.seeded_chunks = 0
        self.seeded_bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def index(
        cls,
        seeds: Iterable[Path],
        sizes: ChunkSizes,
        wanted: Sequence[ChunkSpan],
        behind: BlobStore | None = None,
    ) -> SeedChunks:
        """Cut every seed with ``sizes`` and remember where the ``wanted`` chunks are; a seed
        that cannot be read is skipped (with a warning): seeds are a help, never a need."""
        digests = {span.digest for span in wanted}
        found: dict[bytes, SeedChunk] = {}
        for seed in seeds:
            if len(found) == len(digests):
                break
            try:
                found.update(_cut_seed(seed, sizes, digests - found.keys()))
                found.update(_at_their_offsets(seed, [s for s in wanted if s.digest not in found]))
            except OSError as error:
                log.warning("seed %s skipped: %s", seed, error)
        return cls(found, behind)

    def __repr__(self) -> str:
        return f"SeedChunks({len(self.found)} chunks, behind={self.behind!r})"

    # -- what a verified reader's chunk cache answers -----------------------------------

    def has(self, digest: bytes) -> bool:
        return digest in self.found or (self.behind is not None and self.behind.has(digest))

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        chunk = self.found.get(digest)
        if chunk is None:
            return None if self.behind is None else self.behind.read_raw(digest)
        try:
            data = _read_exactly(chunk)
        except OSError as error:
            log.warning("seed %s unreadable: %s", chunk.path, error)
            return None if self.behind is None else self.behind.read_raw(digest)
        with self._lock:
            self.seeded_chunks += 1
            self.seeded_bytes += len(data)
        return iter((data,))

    def open_read(self, digest: bytes) -> BlobReader | None:
        pieces = self.read_raw(digest)
        return None if pieces is None else io.BytesIO(b"".join(pieces))

    def put_chunk(self, data: Buffer, expected_digest: bytes | None = None) -> bytes:
        if self.behind is None:
            raise InvalidRequestError("no chunk cache behind the seeds keeps chunks")
        return self.behind.put_chunk(data, expected_digest)

    # -- the rest of a store: seeds hold chunks, not blobs ------------------------------

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        return None if self.behind is None else self.behind.stat_request(digest, request)

    def open_write(self) -> BlobWriter:
        if self.behind is None:
            raise InvalidRequestError("seeds are read only")
        return self.behind.open_write()

    def close(self) -> None:
        """Nothing to release: the seeds are opened per read, and ``behind`` is its owner's."""


def seed_files(paths: Iterable[Path], directories: Iterable[Path]) -> list[Path]:
    """The seeds: ``paths`` as given, then every regular file in ``directories`` (not recursing,
    in name order)."""
    seeds = list(paths)
    for directory in directories:
        seeds += sorted(entry for entry in directory.iterdir() if entry.is_file())
    return seeds


def cut_points(pieces: Iterable[Buffer], sizes: ChunkSizes) -> Iterator[tuple[int, memoryview]]:
    """``(offset, chunk)`` for the chunks FastCDC cuts from the stream ``pieces`` with ``sizes``:
    the chunks a store with those sizes makes of the same bytes (each view valid until the
    next one is asked for)."""
    pending = bytearray()
    window = sizes.max + CUT_WINDOW
    offset = 0
    for piece in pieces:
        pending += piece
        if len(pending) >= window:
            offset = yield from _cut(pending, offset, sizes, final=False)
    yield from _cut(pending, offset, sizes, final=True)


def _cut(
    pending: bytearray, offset: int, sizes: ChunkSizes, *, final: bool
) -> Generator[tuple[int, memoryview], None, int]:
    """Cut what ``pending`` (the stream from ``offset``) holds; drop the chunks cut from it and
    return the offset of what is left."""
    lengths = bao.cdc_cut_lengths(pending, sizes.min, sizes.avg, sizes.max, final)
    taken = 0
    with memoryview(pending) as view:
        for length in lengths:
            with view[taken : taken + length] as chunk:
                yield offset + taken, chunk
            taken += length
    del pending[:taken]
    return offset + taken


def _cut_seed(path: Path, sizes: ChunkSizes, wanted: set[bytes]) -> dict[bytes, SeedChunk]:
    found: dict[bytes, SeedChunk] = {}
    with path.open("rb") as file:
        pieces = iter(lambda: file.read(PIECE_SIZE), b"")
        for offset, chunk in cut_points(pieces, sizes):
            digest = bao.hash(chunk)
            if digest in wanted and digest not in found:
                found[digest] = SeedChunk(path, offset, len(chunk))
    return found


def _at_their_offsets(path: Path, spans: Sequence[ChunkSpan]) -> dict[bytes, SeedChunk]:
    """The wanted chunks ``path`` holds at the chunks' own offsets (a copy of the blob)."""
    found: dict[bytes, SeedChunk] = {}
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        for span in spans:
            if span.end > size:
                break
            if bao.hash(os.pread(file.fileno(), span.size, span.offset)) == span.digest:
                found[span.digest] = SeedChunk(path, span.offset, span.size)
    return found


def _read_exactly(chunk: SeedChunk) -> bytes:
    """The chunk's bytes as the seed has them now (possibly not the chunk any more)."""
    with chunk.path.open("rb") as file:
        return os.pread(file.fileno(), chunk.size, chunk.offset)
