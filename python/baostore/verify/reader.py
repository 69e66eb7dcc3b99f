"""Verified reading from an untrusted store: the reader.

Nothing the source says is trusted: not the size, not the bao, not the chunk list, not the chunk
bytes. The layout (size, bao, chunk list) is checked first (layout.py), then every byte goes
through a ``Verifier`` in blob order, so only bytes of complete, checked chunk groups are ever
handed on. A sequential read of all of a blob streams it with one Read (the blob stream); seeking
is local: a read at offset ``p`` starts a verifier window at the group boundary below ``p`` and
fetches only the chunks that cover the groups it needs (from the source or the chunk cache:
source.py).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from typing_extensions import Buffer

from baostore import bao
from baostore.errors import DataLossError, VerificationError
from baostore.sizes import MiB
from baostore.store.interface import BlobStore, ReadStats, StoreError, close_pieces
from baostore.store.seekable import seek_target
from baostore.verify.layout import (
    DEFAULT_PARALLELISM,
    BlobLayout,
    ChunkSpan,
    ReadOptions,
    fetch_layout,
)
from baostore.verify.pieces import Piece, Readahead, SlicedPieces
from baostore.verify.source import STREAM_READAHEAD, ChunkSource

# A chunk up to this size may be fetched ahead into memory; larger ones (or a blob the source does
# not chunk at all) are streamed piece by piece so memory stays bounded whatever the source claims.
PREFETCH_MAX_CHUNK = 8 * MiB

log = logging.getLogger(__name__)


class VerifiedReader(io.RawIOBase):
    """A seekable binary file over a blob from an untrusted source; every byte verified.

    ``cache`` (optional, trusted local store) serves chunks it already holds and receives every
    chunk fetched from the source once all of its bytes verified. Sequential reads fetch up to
    ``parallelism`` chunks ahead, in parallel, and use them in order; a read after a seek fetches
    only the chunks covering the groups it needs.

    ``read(n)`` returns ``n`` bytes unless the blob ends; ``read1(n)`` and ``readinto`` return
    what verified first (at least one byte), without joining pieces: the cheapest way to copy.
    """

    def __init__(
        self,
        source: BlobStore,
        layout: BlobLayout,
        *,
        cache: BlobStore | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        super().__init__()
        self.layout = layout
        self.source = ChunkSource(source, layout, cache, parallelism)
        self._lock = threading.Lock()
        self._position = 0
        self._failure: VerificationError | None = None
        self._stream: _VerifiedStream | None = None
        self._sequential = True
        self._readahead_end = layout.size
        if layout.inline is not None:
            self._check_inline(layout.inline)

    @property
    def size(self) -> int:
        """The blob's size (its bao proved it)."""
        return self.layout.size

    @property
    def stats(self) -> ReadStats:
        """What this read cost so far."""
        return self.source.stats

    # -- io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def limit_readahead(self, end: int) -> None:
        """Nothing past ``end`` will be read: fetch no chunk that starts there ahead of time."""
        self._readahead_end = max(0, min(end, self.layout.size))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = seek_target(offset, whence, self._position, self.layout.size)
        self._sequential = target == self._position
        self._position = target
        return target

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read_verified(len(view), fill=False)
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.layout.size - self._position)
        return self._read_verified(size, fill=True)

    def read1(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(0, self.layout.size - self._position)
        return self._read_verified(size, fill=False)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        with self._lock:
            self._drop_stream()
        self.source.close()
        super().close()

    def __del__(self) -> None:
        # Garbage collection finalizes a reader nobody closed (it and its stream refer to each
        # other) in whatever thread it runs in, possibly one inside threading's own locks: no
        # join, no wait here (close() waits for the cache writes).
        if self.closed:
            return
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.discard()
        self.source.abandon()

    def flush_cache(self) -> None:
        """Wait until every verified chunk handed to the cache has been written."""
        self.source.flush_cache()

    # -- verified reading -----------------------------------------------------------------

    def _check_inline(self, inline: bytes) -> None:
        if len(inline) != self.layout.size:
            raise VerificationError(
                f"inline data has {len(inline)} bytes, the blob {self.layout.size}"
            )
        verifier = self.layout.verifier()
        try:
            verifier.update(inline)
            verifier.finalize()
        except bao.BaoError as error:
            raise VerificationError(f"inline data does not verify: {error}") from error

    def _read_verified(self, size: int, *, fill: bool) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._failure is not None:
            raise self._failure
        size = min(size, self.layout.size - self._position)
        if size <= 0:
            return b""
        if self.layout.inline is not None:
            start = self._position
            self._position += size
            return self.layout.inline[start : start + size]
        with self._lock:
            try:
                data = self._read_verified_from_stream(size, fill)
            except VerificationError as error:
                self._failure = error
                self._drop_stream()
                raise
            except BaseException:
                # A fetch that failed (stall, lost server, interrupt) left the window in the
                # middle of a chunk: a later read starts afresh at its group boundary.
                self._drop_stream()
                raise
        self._position += len(data)
        self._sequential = True
        return data

    def _read_verified_from_stream(self, size: int, fill: bool) -> bytes:
        """Read through the stream; when what failed to verify came from a damaged cache entry
        (local rot, not a lie of the source; a cache that checks its chunks as it reads them
        reports it as DataLossError), read again without it. Ends: each retry leaves out at
        least one more chunk of the finitely many."""
        while True:
            try:
                return self._read_from_stream(size, fill)
            except (VerificationError, DataLossError):
                stream = self._stream
                damaged = set() if stream is None else stream.damaged_cached_chunks()
                if not damaged:
                    raise
                self._drop_stream()
                self.source.avoid_cached(damaged)
                for digest in damaged:
                    log.warning(
                        "chunk cache %r holds a damaged copy of chunk %s; fetching it from %r",
                        self.source.cache,
                        digest.hex(),
                        self.source.source,
                    )

    def _read_from_stream(self, size: int, fill: bool) -> bytes:
        stream = self._stream
        if stream is None or not stream.can_serve(self._position):
            self._drop_stream()
            group = self.layout.group_size
            stream = _VerifiedStream(self, self._position - self._position % group)
            self._stream = stream
        readahead = self.source.parallelism if self._sequential else 0
        return stream.read(self._position, size, readahead, fill=fill)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.discard()
            self._stream = None

    def _open_blob_stream(self) -> SlicedPieces | None:
        """The blob stream when every chunk is needed (see ChunkSource.open_blob_stream)."""
        if self._readahead_end < self.layout.size:
            return None
        return self.source.open_blob_stream()


class _VerifiedStream:
    """One verifier window from a group boundary onwards, fed with spans in blob order.

    Verified bytes wait in ``_ready`` (as the verifier released them) until they are read; what
    is handed on is forgotten, so memory holds at most a group, the chunks fetched ahead and, with
    a cache, the chunk being fed.
    """

    def __init__(self, reader: VerifiedReader, start: int) -> None:
        self._reader = reader
        self._source = reader.source
        self._layout = reader.layout
        self.start = start
        try:
            self._verifier = self._layout.verifier(start=start)
        except bao.BaoError as error:
            raise VerificationError(str(error)) from error
        self._ready: deque[bytes] = deque()
        self._ready_skip = 0  # bytes of _ready[0] already handed on
        self._ready_start = start  # blob offset of the first verified byte not handed on
        self.released_end = start
        self._next_span = self._layout.span_index(start) if start < self._layout.size else 0
        self._fed_until = start
        self._pieces: Iterator[Piece] | None = None
        self._span: ChunkSpan | None = None
        self._span_received = 0
        # The pieces of the span being fed, kept for the cache when it is fed complete.
        self._span_pieces: list[Piece] | None = None
        self._prefetched: dict[int, Future[tuple[list[Piece], bool]]] = {}
        # Complete chunks (fed from their first byte), kept until released_end passes their end.
        self._unconfirmed: deque[tuple[ChunkSpan, list[Piece]]] = deque()
        # The blob stream: one Read of all of the blob, when the window reads all of it.
        self._blob_stream: SlicedPieces | None = None
        self._blob_stream_decided = False

    def can_serve(self, position: int) -> bool:
        return self._ready_start <= position <= self.released_end

    def damaged_cached_chunks(self) -> set[bytes]:
        """After a verification failure: the digests of the chunks between the last verified
        byte and the chunk being started that the cache holds damaged (whichever the failing
        bytes came from)."""
        layout = self._layout
        if self.released_end >= layout.size:
            return set()
        first = layout.span_index(self.released_end)
        last = min(self._next_span, len(layout.spans) - 1)
        spans = layout.spans[first : last + 1]
        return {span.digest for span in spans if self._source.cached_copy_is_damaged(span)}

    def discard(self) -> None:
        """Stop fetching for this window: cancel what is queued, end the open Read."""
        for future in self._prefetched.values():
            future.cancel()
        self._prefetched.clear()
        if self._pieces is not None:
            close_pieces(self._pieces)
            self._pieces = None
        if self._blob_stream is not None:
            self._blob_stream.close()
            self._blob_stream = None

    def read(self, position: int, size: int, readahead: int, *, fill: bool) -> bytes:
        """Verified bytes from ``position``: ``size`` of them (``fill``), or at least one."""
        wanted_end = min(position + size, self._layout.size)
        needed_end = wanted_end if fill else position + 1
        while self.released_end < needed_end:
            self._feed_more(wanted_end, readahead)
        self._skip_to(position)
        return self._take(wanted_end - position, fill=fill)

    def _skip_to(self, position: int) -> None:
        gap = position - self._ready_start
        while gap > 0:
            available = len(self._ready[0]) - self._ready_skip
            if gap < available:
                self._ready_skip += gap
                break
            gap -= available
            self._ready.popleft()
            self._ready_skip = 0
        self._ready_start = position

    def _take(self, count: int, *, fill: bool) -> bytes:
        parts: list[bytes | memoryview] = []
        taken = 0
        while taken < count and self._ready:
            head = self._ready[0]
            skip = self._ready_skip
            length = min(len(head) - skip, count - taken)
            if skip == 0 and length == len(head):
                parts.append(head)  # an entire released piece: handed on without a copy
            else:
                parts.append(memoryview(head)[skip : skip + length])
            taken += length
            self._ready_skip += length
            if self._ready_skip == len(head):
                self._ready.popleft()
                self._ready_skip = 0
            if not fill:
                break
        self._ready_start += taken
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def _feed_more(self, wanted_end: int, readahead: int) -> None:
        if self._pieces is None:
            if self._next_span >= len(self._layout.spans):
                self._finish()
                return
            self._start_span(wanted_end, readahead)
        assert self._pieces is not None and self._span is not None
        span = self._span
        try:
            piece = next(self._pieces)
        except StopIteration:
            if self._span_received != span.size:
                raise VerificationError(
                    f"chunk at offset {span.offset} ended after {self._span_received} of its "
                    f"{span.size} bytes"
                ) from None
            self._end_span()
            return
        self._span_received += len(piece)
        if self._span_received > span.size:
            raise VerificationError(
                f"chunk at offset {span.offset} sent more than its {span.size} bytes"
            )
        if self._span_pieces is not None:
            self._span_pieces.append(piece)
        piece_start = span.offset + self._span_received - len(piece)
        skip = self._fed_until - piece_start
        if skip <= 0:
            self._feed(piece)  # the piece itself, so a group-aligned one is released uncopied
        elif skip < len(piece):
            self._feed(memoryview(piece)[skip:])
        if self._span_received == span.size:
            # The span is complete: anything more the source sends for it is a lie.
            if any(self._pieces):
                raise VerificationError(
                    f"chunk at offset {span.offset} sent more than its {span.size} bytes"
                )
            self._end_span()

    def _feed(self, data: Piece) -> None:
        try:
            released = self._verifier.update(data)
        except bao.BaoError as error:
            raise VerificationError(str(error)) from error
        self._fed_until += len(data)
        self._release(released)

    def _release(self, released: bytes) -> None:
        if released:
            self._ready.append(released)
            self.released_end += len(released)
        while self._unconfirmed and self._unconfirmed[0][0].end <= self.released_end:
            span, pieces = self._unconfirmed.popleft()
            self._source.keep_verified_chunk(span, b"".join(pieces))
        if self.released_end == self._layout.size and not self._unconfirmed:
            self._source.flush_cache()  # all verified: the cache holds its chunks from now on

    def _finish(self) -> None:
        try:
            released = self._verifier.finalize()
        except bao.BaoError as error:
            raise VerificationError(str(error)) from error
        self._release(released)
        if self.released_end < self._layout.size:
            raise VerificationError(
                f"verification stopped at offset {self.released_end} of {self._layout.size}"
            )

    def _start_span(self, wanted_end: int, readahead: int) -> None:
        index = self._next_span
        span = self._layout.spans[index]
        if not self._blob_stream_decided:
            self._blob_stream_decided = True
            if index == 0 and readahead:
                self._blob_stream = self._reader._open_blob_stream()
        pieces: Iterator[Piece]
        if self._blob_stream is not None:
            pieces, from_cache = self._blob_stream.span(span.size), False
            self._source.count_span(span)
        else:
            future = self._prefetched.pop(index, None)
            if future is None:
                # The chunk needed first asks first; the ones after it are fetched meanwhile.
                pieces, from_cache = self._source.open_span(span)
                if span.size > PREFETCH_MAX_CHUNK:
                    pieces = Readahead(pieces, STREAM_READAHEAD)
                self._schedule(index, wanted_end, readahead)
            else:
                self._schedule(index, wanted_end, readahead)
                fetched, from_cache = self._await(future, span)
                pieces = iter(fetched)
        self._pieces = pieces
        self._span = span
        self._span_received = 0
        keep = (
            self._source.cache is not None
            and not from_cache
            and span.offset >= self.start
            and span.size <= PREFETCH_MAX_CHUNK
        )
        self._span_pieces = [] if keep else None

    def _end_span(self) -> None:
        span = self._span
        assert span is not None
        if self._span_pieces is not None:
            self._unconfirmed.append((span, self._span_pieces))
            self._release(b"")  # the span may have verified already
        self._pieces = None
        self._span = None
        self._span_pieces = None
        self._next_span += 1
        stream = self._blob_stream
        if self._next_span == len(self._layout.spans) and stream is not None and stream.has_more():
            raise VerificationError(f"the blob's Read sent more than its {span.end} bytes")

    def _schedule(self, index: int, wanted_end: int, readahead: int) -> None:
        """Fetch ahead: the spans that cover the groups up to ``wanted_end``, plus ``readahead``,
        at most ``parallelism`` beyond the one being fed."""
        spans = self._layout.spans
        group = self._layout.group_size
        covering_end = min(-(-wanted_end // group) * group, self._layout.size)
        limit = index + 1 + self._source.parallelism
        ahead = 0
        for later in range(index + 1, min(limit, len(spans))):
            span = spans[later]
            if span.offset >= covering_end:
                if ahead >= readahead or span.offset >= self._reader._readahead_end:
                    break
                ahead += 1
            if later in self._prefetched or span.size > PREFETCH_MAX_CHUNK:
                continue
            self._prefetched[later] = self._source.fetch_pool().submit(self._fetch_chunk, span)

    def _fetch_chunk(self, span: ChunkSpan) -> tuple[list[Piece], bool]:
        """The pieces of a complete chunk, fetched ahead into memory, and whether from the cache."""
        pieces = []
        received = 0
        stream, from_cache = self._source.open_span(span)
        for piece in stream:
            received += len(piece)
            if received > span.size:
                close_pieces(stream)
                raise VerificationError(
                    f"chunk at offset {span.offset} sent more than its {span.size} bytes"
                )
            pieces.append(piece)
        return pieces, from_cache

    @staticmethod
    def _await(
        future: Future[tuple[list[Piece], bool]], span: ChunkSpan
    ) -> tuple[list[Piece], bool]:
        try:
            return future.result()
        except StoreError:
            raise
        except Exception as error:
            raise StoreError(
                f"fetching the chunk at offset {span.offset} failed: {error}"
            ) from error


def open_verified(
    source: BlobStore,
    digest: bytes,
    options: ReadOptions | None = None,
    *,
    cache: BlobStore | None = None,
) -> VerifiedReader | None:
    """Open a blob of an untrusted ``source`` for verified reading; None if the source lacks it."""
    options = options or ReadOptions()
    layout = fetch_layout(source, digest, options)
    if layout is None:
        return None
    return VerifiedReader(source, layout, cache=cache, parallelism=options.parallelism)


@dataclass(frozen=True)
class VerifiedReads:
    """How verified reads ask for the bao and fetch (``options``) and where they keep verified
    chunks (``cache``, a trusted store): the VerifiedOpener a store's ``open_verified`` uses."""

    options: ReadOptions = field(default_factory=ReadOptions)
    cache: BlobStore | None = None

    def with_cache(self, cache: BlobStore) -> VerifiedReads:
        return replace(self, cache=cache)

    def open(self, source: BlobStore, digest: bytes) -> VerifiedReader | None:
        return open_verified(source, digest, self.options, cache=self.cache)
