"""Completing a local copy of a blob in place: every group that verifies is kept, only the chunks
covering the missing or damaged ones are read, and their verified bytes written at their offsets.

The copy may have any shape (holes, damage anywhere, too short, too long) and holds the blob's
bytes ``[start, end)`` from its first byte on. ``complete_file`` checks it (``check_file``),
plans which byte ranges to read so that each chunk is read once (``fetch_runs``: missing ranges
whose chunks touch are read as one run), reads them from a ``RangeSource`` whose bytes are the
blob's (a verified reader of an untrusted store, or a trusted store's own reader) and writes only
the missing bytes. Nothing unverified is ever written: what the source hands on was verified
before, and what the file kept verified in place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from typing_extensions import Buffer

from baostore import bao
from baostore.errors import DataLossError
from baostore.store.interface import PIECE_SIZE, BlobReader, BlobStore, Piece, ReadStats
from baostore.verify.layout import ChunkSpan, ReadOptions
from baostore.verify.local import Advance, BlobBao, FileCheck, check_file
from baostore.verify.ranges import Ranges, Span
from baostore.verify.reader import VerifiedReader
from baostore.verify.windowed import StoreBao, for_reading
from baostore.verify.windows import BlobLayout

ChunkExtent = Callable[[int, int], tuple[int, int]]
"""The blob bytes ``(start, end)`` that the chunks overlapping blob bytes ``[start, end)``
cover: reading ``[start, end)`` fetches those chunks."""


class RangeSource(Protocol):
    """Bytes of a blob that are the blob's (verified, or from a trusted store), by range."""

    def read_range(self, start: int, end: int) -> Iterator[Buffer]:
        """The bytes ``[start, end)`` in order, in pieces; DataLossError if they end early."""


class ReaderRanges:
    """A RangeSource over a seekable reader of the blob: a verified reader (which fetches only
    the chunks covering what is read, if told where reading stops: ``limit``) or a trusted
    store's own reader. ``read_pieces`` is how pieces are taken (a verified reader's
    ``read1_pieces`` hands on what verified as the pieces it came in: no join, no copy)."""

    def __init__(
        self,
        reader: BlobReader,
        read_pieces: Callable[[int], Sequence[Piece]] | None = None,
        limit: Callable[[int], None] | None = None,
    ) -> None:
        self.reader = reader
        self._read_pieces = read_pieces or self._read_one
        self._limit = limit

    def _read_one(self, size: int) -> Sequence[Piece]:
        return (self.reader.read(size),)

    def read_range(self, start: int, end: int) -> Iterator[Buffer]:
        if self._limit is not None:
            self._limit(end)
        self.reader.seek(start)
        position = start
        while position < end:
            pieces = self._read_pieces(min(PIECE_SIZE, end - position))
            if not sum(len(piece) for piece in pieces):
                raise DataLossError(f"the blob ended at byte {position}, before {end}")
            for piece in pieces:
                position += len(piece)
                yield piece


@dataclass(frozen=True)
class Run:
    """Bytes ``[start, end)`` read in one go, of which ``missing`` are written."""

    start: int
    end: int
    missing: Ranges


def fetch_runs(missing: Ranges, extent: ChunkExtent, group_size: int) -> list[Run]:
    """How to read ``missing`` so that no chunk is read twice: a range is read from the chunks
    covering its groups, and ranges whose covering chunks overlap or touch are read as one run
    (reading through the verified groups between them costs no chunk more)."""
    if len(missing) < 2:  # nothing to merge: no need to know the chunks
        return [Run(start, end, Ranges.span(start, end)) for start, end in missing]
    runs: list[tuple[int, int, int, list[Span]]] = []  # chunks start, chunks end, read start, parts
    for start, end in missing:
        chunks_start, chunks_end = extent(
            start // group_size * group_size, -(-end // group_size) * group_size
        )
        if runs and chunks_start <= runs[-1][1]:
            first, last, read_start, parts = runs[-1]
            runs[-1] = (first, max(last, chunks_end), read_start, [*parts, (start, end)])
        else:
            runs.append((chunks_start, chunks_end, start, [(start, end)]))
    return [Run(read_start, parts[-1][1], Ranges.of(parts)) for _, _, read_start, parts in runs]


@dataclass(frozen=True)
class Completion:
    """What completing a local copy did: what it found (``check``), what it wrote."""

    check: FileCheck
    written: Ranges

    @property
    def kept(self) -> int:
        """Bytes of the copy that verified in place and were kept."""
        return self.check.verified.total


def complete_file(
    descriptor: int,
    blob: BlobBao,
    extent: ChunkExtent,
    source: RangeSource,
    *,
    start: int = 0,
    end: int | None = None,
    check: FileCheck | None = None,
    advance: Advance | None = None,
) -> Completion:
    """Make the file open at ``descriptor`` (for reading and writing) hold exactly the blob's
    bytes ``[start, end)``: check it (or take ``check``, made of this very file), cut what lies
    past its length, and write what did not verify, read from ``source``, in blob order (an
    interrupted completion of an empty file leaves a verified prefix). ``advance(n)`` is told of
    the bytes kept and then of each piece written."""
    end = blob.size if end is None else end
    if check is None:
        check = check_file(descriptor, blob, start=start, end=end)
    if check.changed:
        raise DataLossError("the file changed while it was checked: something else writes it")
    if advance is not None:
        advance(check.verified.total)
    length = end - start
    if os.fstat(descriptor).st_size > length:
        os.ftruncate(descriptor, length)  # what lies past the end is not the blob's
    written: list[Span] = []
    for run in fetch_runs(check.unverified, extent, bao.group_size(blob.shift)):
        written += _write_run(descriptor, start, run, source, advance)
    os.ftruncate(descriptor, length)  # no-op unless nothing needed writing at the end
    return Completion(check, Ranges.of(written))


def _write_run(
    descriptor: int, base: int, run: Run, source: RangeSource, advance: Advance | None
) -> list[Span]:
    """Read ``run`` from ``source``; write its missing parts at their offsets in the file."""
    written: list[Span] = []
    position = run.start
    for piece in source.read_range(run.start, run.end):
        view = memoryview(piece)
        piece_end = position + len(view)
        for start, end in run.missing & Ranges.span(position, piece_end):
            _write_all(descriptor, view[start - position : end - position], start - base)
            written.append((start, end))
            if advance is not None:
                advance(end - start)
        position = piece_end
    return written


def _write_all(descriptor: int, data: memoryview, offset: int) -> None:
    while data:
        count = os.pwrite(descriptor, data, offset)
        data = data[count:]
        offset += count


class StoreBlob:
    """A blob of a store as completing a local copy needs it: its bao (a verifier for any window,
    to check the copy), its chunk spans (to plan what to read) and its bytes by range (a
    RangeSource): read verified through ``cache`` (a chunk cache, or seeds in front of one) when
    the store is not trusted, from the store's own reader when it is.

    Built from the layout opening the blob proved (its first window; ``open_checking`` asks a
    large one); nothing more is asked before a window or a range is needed.
    """

    def __init__(
        self,
        store: BlobStore,
        layout: BlobLayout,
        *,
        cache: BlobStore | None = None,
        read_options: ReadOptions | None = None,
    ) -> None:
        self.store = store
        self.bao = StoreBao(layout)
        # The reader asks for its windows as reads do (small after a seek: a repair run costs
        # little), sharing the first window, however large the opening asked for it (the
        # opening's large first window is an argument of fetch_layout, not an option).
        options = read_options or layout.windows.options
        self.layout = for_reading(layout, options)
        self.cache = cache
        self.parallelism = options.parallelism
        self._reader: BlobReader | None = None
        self._ranges: ReaderRanges | None = None

    @property
    def digest(self) -> bytes:
        return self.layout.digest

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def stats(self) -> ReadStats | None:
        """What the blob cost so far: the windows its check asked for and its readers' windows
        and chunks (None: a trusted store's own reads)."""
        if self.store.trusted:
            return None
        return self.bao.layout.windows.stats.combine(self.layout.windows.stats)

    def spans(self, start: int, end: int) -> Sequence[ChunkSpan]:
        """The chunk spans overlapping ``[start, end)``."""
        return self.bao.spans(start, end)

    def chunk_extent(self, start: int, end: int) -> tuple[int, int]:
        """What the chunks overlapping ``[start, end)`` cover (a ChunkExtent)."""
        return self.bao.chunk_extent(start, end)

    def read_range(self, start: int, end: int) -> Iterator[Buffer]:
        return self._open().read_range(start, end)

    def use_cache(self, cache: BlobStore | None) -> None:
        """Read through ``cache`` from now on (a fresh reader: one that failed stays failed)."""
        self._close_reader()
        self.cache = cache

    def close(self) -> None:
        self._close_reader()

    def __enter__(self) -> StoreBlob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> ReaderRanges:
        if self._ranges is not None:
            return self._ranges
        if self.store.trusted:
            reader = self.store.open_read(self.digest)
            if reader is None:
                raise DataLossError(f"the store described blob {self.digest.hex()} but lacks it")
            self._reader, self._ranges = reader, ReaderRanges(reader)
        else:
            verified = VerifiedReader(
                self.store, self.layout, cache=self.cache, parallelism=self.parallelism
            )
            self._reader = verified
            self._ranges = ReaderRanges(verified, verified.read1_pieces, verified.limit_readahead)
        return self._ranges

    def _close_reader(self) -> None:
        reader, self._reader, self._ranges = self._reader, None, None
        if reader is not None:
            reader.close()
