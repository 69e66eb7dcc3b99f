"""Verified reading from an untrusted store: the reader.

Nothing the source says is trusted: not the size, not the proofs, not the chunk lists, not the
chunk bytes. Each window (its proof and chunks, windows.py) is checked first (layout.py), then
every byte goes through the window's ``Verifier`` in blob order, so only bytes of complete,
checked chunk groups are ever handed on. A read walks the blob window by window, fetching the
next window's Stat while the current one streams; a sequential read of all of a blob streams its
data with one Read (the blob stream). A read at offset ``p`` after a seek asks for the window
starting at the group boundary below ``p`` and fetches only the chunks that cover the groups it
needs (from the source or the chunk cache: source.py).

The reader owns its stream, the stream its windows and chunk source; nothing points back, so a
reader nobody closed is collected as soon as it is dropped (without waiting for anything).
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
from baostore.fitting import largest
from baostore.sizes import MiB
from baostore.store.interface import BlobStore, Piece, ReadStats, StoreError, close_pieces
from baostore.store.seekable import seek_target
from baostore.verify.layout import DEFAULT_PARALLELISM, ChunkSpan, ReadOptions, Window
from baostore.verify.pieces import ChunkPieces, Readahead, SlicedPieces, end_of
from baostore.verify.source import STREAM_READAHEAD, ChunkSource
from baostore.verify.windows import BlobLayout, Windows, fetch_layout

# A chunk up to this size may be fetched ahead into memory; larger ones (or a blob the source does
# not chunk at all) are streamed piece by piece so memory stays bounded whatever the source claims.
PREFETCH_MAX_CHUNK = 8 * MiB
# Spans already fed are dropped from a stream's list once this many gathered.
SPAN_TRIM = 4096
# A window's proof takes at most this much (64 MiB at shift 4, 16 MiB at shift 0 in pre_order):
# well inside a Stat answer's 4 MiB, with room for the window's chunk list.
WINDOW_PROOF_BUDGET = MiB
# Windows asked for ahead of the one being read.
WINDOWS_AHEAD = 2

log = logging.getLogger(__name__)


class VerifiedReader(io.RawIOBase):
    """A seekable binary file over a blob from an untrusted source; every byte verified.

    ``cache`` (optional, trusted local store) serves chunks it already holds and receives every
    chunk fetched from the source once all of its bytes verified. Sequential reads fetch up to
    ``parallelism`` chunks ahead, in parallel, and use them in order, and the next window's Stat
    while the current window streams; a read after a seek asks for the window there and fetches
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
        self.source = ChunkSource(
            source, layout.digest, layout.size, cache, parallelism, layout.windows.stats
        )
        self._lock = threading.Lock()
        self._position = 0
        self._failure: VerificationError | None = None
        self._stream: _VerifiedStream | None = None
        self._sequential = True
        self._readahead_end = layout.size
        self._inline = layout.inline
        if self._inline is not None:
            self._check_inline(layout.first, self._inline)

    @property
    def size(self) -> int:
        """The blob's size (the first window's proof proved it)."""
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
        """Nothing past ``end`` will be read: ask for no window and fetch no chunk beyond it."""
        self._readahead_end = max(0, min(end, self.layout.size))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = seek_target(offset, whence, self._position, self.layout.size)
        self._sequential = target == self._position
        self._position = target
        return target

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        written = 0
        for piece in self._read_verified(len(view), fill=False):
            view[written : written + len(piece)] = piece
            written += len(piece)
        return written

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.layout.size - self._position)
        return _joined(self._read_verified(size, fill=True))

    def read1(self, size: int = -1) -> bytes:
        return _joined(self.read1_pieces(size))

    def read1_pieces(self, size: int = -1) -> list[Piece]:
        """What ``read1`` returns, as the verified pieces themselves, not joined (bytes, or
        read-only views of what the source sent): the cheapest way to write them somewhere."""
        if size < 0:
            size = max(0, self.layout.size - self._position)
        return self._read_verified(size, fill=False)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        with self._lock:
            self._drop_stream()
        self.layout.windows.close()
        self.source.close()
        super().close()

    def __del__(self) -> None:
        # io.IOBase's finalizer would call close(), which waits for the cache writes, in
        # whatever thread collects the reader (perhaps one inside threading's own locks): a
        # reader nobody closed is let go without waiting (writes already handed on still happen).
        if self.closed:
            return
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.discard()
        self.layout.windows.close()
        self.source.abandon()

    def flush_cache(self) -> None:
        """Wait until every verified chunk handed to the cache has been written."""
        self.source.flush_cache()

    # -- verified reading -----------------------------------------------------------------

    @staticmethod
    def _check_inline(window: Window, inline: bytes) -> None:
        if len(inline) != window.size:
            raise VerificationError(f"inline data has {len(inline)} bytes, the blob {window.size}")
        verifier = window.verifier()
        try:
            verifier.update(inline)
            verifier.finalize()
        except bao.BaoError as error:
            raise VerificationError(f"inline data does not verify: {error}") from error

    def _read_verified(self, size: int, *, fill: bool) -> list[Piece]:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if self._failure is not None:
            raise self._failure
        size = min(size, self.layout.size - self._position)
        if size <= 0:
            return []
        if self._inline is not None:
            start = self._position
            self._position += size
            return [self._inline[start : start + size]]
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
        self._position += sum(len(piece) for piece in data)
        self._sequential = True
        return data

    def _read_verified_from_stream(self, size: int, fill: bool) -> list[Piece]:
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

    def _read_from_stream(self, size: int, fill: bool) -> list[Piece]:
        stream = self._stream
        if stream is None or not stream.can_serve(self._position):
            self._drop_stream()
            stream = self._open_stream(self._position, size)
            self._stream = stream
        readahead = self.source.parallelism if self._sequential else 0
        return stream.read(self._position, size, readahead, fill=fill)

    def _open_stream(self, position: int, size: int) -> _VerifiedStream:
        """A stream from the group boundary at or below ``position``, in the window there: the
        first window (or the whole blob's) when it can start there, else a new one asked for
        ``size`` bytes and more (the first window's size), never past the readahead limit."""
        start = position - position % self.layout.group_size
        window = self.layout.first
        plan = _WindowPlan(self.layout.windows, self._readahead_end)
        if not window.can_start_at(start):
            window = plan.window_at(start, position + size)
            # A whole-blob answer (a server without ranged Stat) may come at a coarser shift.
            start = position - position % window.group_size
            if not window.can_start_at(start):
                raise VerificationError(
                    f"asked for the window at {start}, the source answered "
                    f"[{window.start}, {window.end})"
                )
        return _VerifiedStream(self.source, plan, window, start, self._readahead_end)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.discard()
            self._stream = None


class _WindowPlan:
    """Which windows a stream asks for: each next one twice the size of the last, from the
    options' first window up to their window size, never past the readahead limit, and no
    larger than a proof of WINDOW_PROOF_BUDGET bytes covers (so a server with the usual message
    limit answers them whole and the windows asked ahead start where the ones before end). The
    next two windows are asked for ahead, so two Stats (say two rehashes on the server) run
    while the current window streams."""

    def __init__(self, windows: Windows, readahead_end: int) -> None:
        self.windows = windows
        self.readahead_end = readahead_end
        self.next_size = windows.options.first_window

    def window_at(self, start: int, wanted_end: int) -> Window:
        return self.windows.at(start, self._end(start, max(wanted_end, start + self.next_size)))

    def prefetch_after(self, window: Window) -> None:
        """Ask for the two windows after ``window`` ahead of time (as far as the read goes)."""
        start, size = window.end, self.next_size
        for _ in range(WINDOWS_AHEAD):
            if start >= min(window.size, self.readahead_end):
                return
            end = self._end(start, start + size)
            self.windows.prefetch(start, end)
            if end is None:
                return
            start, size = end, self._grown(size)

    def next_window(self, window: Window) -> Window:
        """The window after ``window`` (fetched ahead, usually)."""
        return self.windows.at(window.end, self._end(window.end, window.end + self.next_size))

    def grow(self) -> None:
        self.next_size = self._grown(self.next_size)

    def _grown(self, size: int) -> int:
        options = self.windows.options
        return min(max(size * 2, options.first_window), options.window_size)

    def _end(self, start: int, end: int) -> int | None:
        """The end to ask for a window from ``start`` towards ``end``: within the readahead
        limit and the proof budget; None for the blob's end."""
        windows = self.windows
        if self.readahead_end > start:
            end = min(end, self.readahead_end)
        end = min(end, windows.size)
        options = windows.options
        group = bao.group_size(options.bao_shift)

        def proof(groups: int) -> int:
            return bao.proof_size(
                windows.size,
                options.bao_shift,
                options.bao_format,
                start,
                min(start + groups * group, windows.size),
            )

        groups = -(-(end - start) // group)
        if groups > 1 and proof(groups) > WINDOW_PROOF_BUDGET:
            fitting = max(1, largest(groups, lambda count: proof(count) <= WINDOW_PROOF_BUDGET))
            end = min(start + fitting * group, windows.size)
        return None if end >= windows.size else end


class _VerifiedStream:
    """Verified bytes from a group boundary onwards, window after window, fed with spans in blob
    order.

    Verified bytes wait in ``_ready`` (as the verifier released them) until they are read; what
    is handed on is forgotten, so memory holds at most a group, the chunks fetched ahead, the
    window being verified and the one fetched ahead, and, with a cache, the chunk being fed.
    """

    def __init__(
        self,
        source: ChunkSource,
        plan: _WindowPlan,
        window: Window,
        start: int,
        readahead_end: int,
    ) -> None:
        self._source = source
        self._plan = plan
        self._size = window.size
        self._readahead_end = readahead_end
        self.start = start
        self._window = window
        self._verifier = self._verifier_of(window, start)
        self._ready: deque[Piece] = deque()
        self._ready_skip = 0  # bytes of _ready[0] already handed on
        # Bytes fed to the verifier and not yet verified (an incomplete group): the pieces
        # themselves, handed on without a copy once the verifier counts them verified.
        self._unverified: deque[Piece] = deque()
        self._unverified_skip = 0
        self._ready_start = start  # blob offset of the first verified byte not handed on
        self.released_end = start
        # Known spans, numbered from _first_span on; the next to feed is _next_span.
        self._spans: list[ChunkSpan] = []
        self._first_span = 0
        self._next_span = 0
        if start < self._size:
            first = window.span_index(start)
            self._spans = list(window.spans[first:])
        self._fed_until = start
        self._pieces: Iterator[Piece] | None = None
        self._span: ChunkSpan | None = None
        self._span_received = 0
        # The pieces of the span being fed, kept for the cache when it is fed complete.
        self._span_pieces: ChunkPieces | None = None
        self._prefetched: dict[int, Future[tuple[list[Piece], bool]]] = {}
        # Complete chunks (fed from their first byte), kept until released_end passes their end.
        self._unconfirmed: deque[tuple[ChunkSpan, list[Piece]]] = deque()
        # The blob stream: one Read of all of the blob, when the stream reads all of it.
        self._blob_stream: SlicedPieces | None = None
        self._blob_stream_decided = False
        self._stream_position = 0  # blob offset the blob stream has reached
        # The part of a piece beyond the window just verified, fed once more is wanted.
        self._leftover: Piece | None = None
        plan.prefetch_after(window)

    @staticmethod
    def _verifier_of(window: Window, start: int) -> bao.Verifier:
        try:
            return window.verifier(start)
        except bao.BaoError as error:
            raise VerificationError(str(error)) from error

    def can_serve(self, position: int) -> bool:
        return self._ready_start <= position <= self.released_end

    def damaged_cached_chunks(self) -> set[bytes]:
        """After a verification failure: the digests of the chunks between the last verified
        byte and the chunk being started that the cache holds damaged (whichever the failing
        bytes came from)."""
        spans = [
            span
            for span in self._spans[: self._next_span - self._first_span + 1]
            if span.end > self.released_end
        ]
        return {span.digest for span in spans if self._source.cached_copy_is_damaged(span)}

    def discard(self) -> None:
        """Stop fetching for this stream: cancel what is queued, end the open Read."""
        for future in self._prefetched.values():
            future.cancel()
        self._prefetched.clear()
        if self._pieces is not None:
            close_pieces(self._pieces)
            self._pieces = None
        if self._blob_stream is not None:
            self._blob_stream.close()
            self._blob_stream = None

    def read(self, position: int, size: int, readahead: int, *, fill: bool) -> list[Piece]:
        """Verified bytes from ``position``: ``size`` of them (``fill``), or at least one."""
        wanted_end = min(position + size, self._size)
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

    def _take(self, count: int, *, fill: bool) -> list[Piece]:
        """Up to ``count`` verified bytes: all of them (``fill``), or what verified first, up to
        a group boundary at least (so what is handed on ends where verification does, as a
        partial download that resumes re-checks whole groups), as the pieces they came in."""
        parts: list[Piece] = []
        taken = 0
        group = self._window.group_size
        while taken < count and self._ready:
            head = self._ready[0]
            skip = self._ready_skip
            length = min(len(head) - skip, count - taken)
            if skip == 0 and length == len(head):
                parts.append(head)  # an entire verified piece: handed on without a copy
            else:
                parts.append(memoryview(head)[skip : skip + length])
            taken += length
            self._ready_skip += length
            if self._ready_skip == len(head):
                self._ready.popleft()
                self._ready_skip = 0
            if not fill and ((self._ready_start + taken) % group == 0 or not self._ready):
                break
        self._ready_start += taken
        return parts

    # -- spans ----------------------------------------------------------------------------

    def _span_at(self, index: int) -> ChunkSpan | None:
        """Span number ``index``, if known."""
        position = index - self._first_span
        return self._spans[position] if 0 <= position < len(self._spans) else None

    def _known_end(self) -> int:
        return self._spans[-1].end if self._spans else self.start

    def _trim_spans(self) -> None:
        """Forget spans fed and verified (a long read holds a window's worth, not the blob's)."""
        done = self._next_span - self._first_span - 1
        if done < SPAN_TRIM:
            return
        keep_from = next((i for i in range(done) if self._spans[i].end > self.released_end), done)
        del self._spans[:keep_from]
        self._first_span += keep_from

    def _merge_spans(self, window: Window) -> None:
        """Add the spans of the next window after those known. Neighbouring windows may cut the
        blob differently (a proxy answers one from its cache tier, the next from its far store):
        feeding goes on inside the chunk that holds the end of the known spans, its bytes before
        that end skipped (they were fed already). The window's spans cover it, so none is
        missing."""
        known_end = self._known_end()
        self._spans.extend(span for span in window.spans if span.end > known_end)

    # -- feeding --------------------------------------------------------------------------

    def _feed_more(self, wanted_end: int, readahead: int) -> None:
        leftover, self._leftover = self._leftover, None
        if leftover is not None:
            self._feed(leftover)  # the rest of a piece that crossed into the next window
            return
        if self._pieces is None:
            if self._span_at(self._next_span) is None:
                if self._fed_until == self._window.end < self._size:
                    self._next_window()  # its chunks are the next to fetch
                else:
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
            # The span is complete: the Read ends here (a server that never ends it holds up
            # nothing); anything more it sends for the span is a lie.
            if end_of(self._pieces) is not None:
                raise VerificationError(
                    f"chunk at offset {span.offset} sent more than its {span.size} bytes"
                )
            self._end_span()

    def _feed(self, data: Piece) -> None:
        """Feed ``data`` (the bytes from ``_fed_until`` on) to the window's verifier, which
        checks it in place (``Verifier.check``: no copy); verified bytes move on to ``_ready``
        as the pieces they came in. Where the window ends, what is left of ``data`` waits until
        more is wanted, so a read that ends with the window asks for no next one."""
        room = self._window.end - self._fed_until
        if room == 0:
            self._next_window()
            room = self._window.end - self._fed_until
        part = data if len(data) <= room else memoryview(data)[:room]
        try:
            verified = self._verifier.check(part)
            self._fed_until += len(part)
            if self._fed_until == self._window.end:
                self._verifier.finalize()  # the window came complete (its last group counted)
        except bao.BaoError as error:
            raise VerificationError(str(error)) from error
        self._unverified.append(part)
        self._release(verified)
        if len(part) < len(data):
            self._leftover = memoryview(data)[len(part) :]

    def _next_window(self) -> None:
        """Go on with the window after the one just verified (fetched ahead, usually)."""
        window = self._window
        following = self._plan.next_window(window)
        if not following.can_start_at(window.end):
            raise VerificationError(
                f"asked for the window at {window.end}, the source answered "
                f"[{following.start}, {following.end})"
            )
        self._merge_spans(following)
        self._window = following
        self._verifier = self._verifier_of(following, window.end)
        self._plan.grow()
        self._plan.prefetch_after(following)

    def _release(self, count: int) -> None:
        """``count`` more bytes verified: move them from ``_unverified`` to ``_ready``."""
        self.released_end += count
        while count:
            head = self._unverified[0]
            available = len(head) - self._unverified_skip
            skip = self._unverified_skip
            if count >= available:
                self._ready.append(head if skip == 0 else memoryview(head)[skip:])
                self._unverified.popleft()
                self._unverified_skip = 0
                count -= available
            else:
                self._ready.append(memoryview(head)[skip : skip + count])
                self._unverified_skip += count
                count = 0
        while self._unconfirmed and self._unconfirmed[0][0].end <= self.released_end:
            span, pieces = self._unconfirmed.popleft()
            self._source.keep_verified_chunk(span, b"".join(pieces))
        if self.released_end == self._size and not self._unconfirmed:
            self._source.flush_cache()  # all verified: the cache holds its chunks from now on

    def _finish(self) -> None:
        if self._fed_until < self._size:
            raise VerificationError(
                f"the chunk lists end at offset {self._known_end()}, the blob at {self._size}"
            )
        if self.released_end < self._size:
            raise VerificationError(
                f"verification stopped at offset {self.released_end} of {self._size}"
            )

    def _start_span(self, wanted_end: int, readahead: int) -> None:
        index = self._next_span
        span = self._span_at(index)
        assert span is not None
        if not self._blob_stream_decided:
            self._blob_stream_decided = True
            if span.offset == 0 and readahead and self._readahead_end >= self._size:
                self._blob_stream = self._source.open_blob_stream(tuple(self._spans))
        pieces: Iterator[Piece]
        received = 0
        if self._blob_stream is not None:
            # The stream is at the end of the span before; a span of a window that cuts the blob
            # differently may start before it (see _merge_spans): only its rest is in the stream.
            received = max(0, self._stream_position - span.offset)
            pieces, from_cache = self._blob_stream.span(span.size - received), False
            self._stream_position = span.end
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
        self._span_received = received
        keep = (
            not from_cache
            and span.offset >= self._fed_until
            and span.size <= PREFETCH_MAX_CHUNK
            and self._source.worth_caching(span)
        )
        self._span_pieces = ChunkPieces() if keep else None

    def _end_span(self) -> None:
        span = self._span
        assert span is not None
        if self._span_pieces is not None:
            self._unconfirmed.append((span, self._span_pieces.pieces()))
            self._release(0)  # the span may have verified already
        self._pieces = None
        self._span = None
        self._span_pieces = None
        self._next_span += 1
        self._trim_spans()
        stream = self._blob_stream
        if span.end == self._size and stream is not None and stream.has_more():
            raise VerificationError(f"the blob's Read sent more than its {span.end} bytes")

    def _schedule(self, index: int, wanted_end: int, readahead: int) -> None:
        """Fetch ahead: the known spans that cover the groups up to ``wanted_end``, plus
        ``readahead``, at most ``parallelism`` beyond the one being fed."""
        group = self._window.group_size
        covering_end = min(-(-wanted_end // group) * group, self._size)
        ahead = 0
        for later in range(index + 1, index + 1 + self._source.parallelism):
            span = self._span_at(later)
            if span is None:
                break
            if span.offset >= covering_end:
                if ahead >= readahead or span.offset >= self._readahead_end:
                    break
                ahead += 1
            if later in self._prefetched or span.size > PREFETCH_MAX_CHUNK:
                continue
            self._prefetched[later] = self._source.fetch_pool().submit(self._fetch_chunk, span)

    def _fetch_chunk(self, span: ChunkSpan) -> tuple[list[Piece], bool]:
        """The pieces of a complete chunk, fetched ahead into memory, and whether from the cache."""
        pieces = ChunkPieces()
        received = 0
        stream, from_cache = self._source.open_span(span)
        try:
            while received < span.size and (piece := next(stream, None)) is not None:
                received += len(piece)
                pieces.append(piece)
            # Complete: the Read ends here, whether or not the server ends it.
            if received > span.size or (received == span.size and end_of(stream) is not None):
                raise VerificationError(
                    f"chunk at offset {span.offset} sent more than its {span.size} bytes"
                )
        finally:
            close_pieces(stream)
        return pieces.pieces(), from_cache

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


def _joined(pieces: list[Piece]) -> bytes:
    """Pieces as one bytes object (a lone bytes piece as it is, without a copy)."""
    if len(pieces) == 1 and isinstance(pieces[0], bytes):
        return pieces[0]
    return b"".join(pieces)


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
