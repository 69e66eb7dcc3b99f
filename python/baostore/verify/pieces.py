"""Piece streams for verified reading: a readahead thread, and one stream sliced into spans.

A Read stream hands out the bytes of a blob or chunk in pieces (``Iterator[bytes]``). Verifying
while the next pieces arrive needs them pulled in another thread (``Readahead``); reading all of a
blob with one Read (the blob stream) but verifying and caching it chunk by chunk needs the stream
cut at chunk boundaries (``SlicedPieces``). Nothing here checks the bytes: the Verifier does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from baostore.store.interface import Piece, close_pieces

# How often a blocked readahead thread looks whether its consumer has gone.
_POLL_SECONDS = 0.1
# How long a stream that sent every byte it should may take to end (an honest one ends at once):
# more data in that time is a lie; none, and the stream is closed, so a server that never ends a
# call holds up nothing.
END_WAIT = 1.0


def next_within(pieces: Iterator[Piece], seconds: float) -> Piece | None:
    """The next piece of ``pieces``; None when they ended, or, for a stream that can wait with a
    bound (its own ``next_within``: a Readahead, a gRPC Read), sent nothing for ``seconds``.
    Any other stream (pieces in memory, a local store's) is asked as it is."""
    wait = getattr(pieces, "next_within", None)
    if callable(wait):
        piece: Piece | None = wait(seconds)
        return piece
    return next(pieces, None)


def end_of(pieces: Iterator[Piece]) -> Piece | None:
    """What ``pieces`` send after the bytes they owed (None: nothing, within END_WAIT); the
    stream is closed either way (a Read call ends)."""
    try:
        while (piece := next_within(pieces, END_WAIT)) is not None:
            if piece:
                return piece
        return None
    finally:
        close_pieces(pieces)


# Pieces smaller than this are joined into one buffer as they arrive: a source that sends a chunk
# in thousands of tiny messages would otherwise cost an object (and a view) per message, many
# times the bytes they carry, while the chunk waits to be verified and cached.
MIN_PIECE = 64 << 10


class ChunkPieces:
    """The pieces of one chunk as they arrive: big ones kept as they came (no copy), runs of
    small ones joined into one buffer each."""

    def __init__(self) -> None:
        self._pieces: list[Piece] = []
        self._small = bytearray()

    def append(self, piece: Piece) -> None:
        if len(piece) >= MIN_PIECE:
            self._seal()
            self._pieces.append(piece)
        else:
            self._small += piece

    def pieces(self) -> list[Piece]:
        """The chunk's pieces so far (what gathered is sealed into a piece of its own)."""
        self._seal()
        return self._pieces

    def _seal(self) -> None:
        if self._small:
            self._pieces.append(memoryview(self._small))
            self._small = bytearray()


class Readahead:
    """Pulls ``pieces`` in a thread, up to ``depth`` pieces ahead of the consumer.

    Errors of the stream are raised to the consumer in order, after the pieces before them.
    ``close`` lets the thread stop at its next piece (and close the stream).
    """

    def __init__(self, pieces: Iterator[Piece], depth: int) -> None:
        self._pieces = pieces
        self._queue: queue.Queue[Piece | BaseException | None] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._pull, args=(pieces,), name="baostore-readahead", daemon=True
        )
        self._thread.start()

    def __iter__(self) -> Readahead:
        return self

    def __next__(self) -> Piece:
        piece = self._take(None)
        if piece is None:
            raise StopIteration
        return piece

    def next_within(self, seconds: float) -> Piece | None:
        """The next piece; None when the stream ended or sent nothing for ``seconds`` (then it
        is closed)."""
        try:
            return self._take(seconds)
        except queue.Empty:
            self.close()
            return None

    def _take(self, seconds: float | None) -> Piece | None:
        if self._done:
            return None
        item = self._queue.get(timeout=seconds)
        if item is None:
            self._done = True
            return None
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    def close(self) -> None:
        """Stop: the thread ends at its next piece, and a stream that can be closed from here (a
        gRPC Read, cancelled) is closed at once, so a thread waiting on it ends too."""
        self._done = True
        self._closed.set()
        close_pieces(self._pieces)

    def _pull(self, pieces: Iterator[Piece]) -> None:
        try:
            for piece in pieces:
                if not self._offer(piece):
                    return
            self._offer(None)
        except BaseException as error:  # handed to the consumer, who raises it
            self._offer(error)
        finally:
            close_pieces(pieces)

    def _offer(self, item: Piece | BaseException | None) -> bool:
        """Queue ``item`` unless the consumer closed us first; whether it was queued."""
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False


class SlicedPieces:
    """One stream of consecutive spans, handed out span by span, cut at span boundaries."""

    def __init__(self, pieces: Iterator[Piece]) -> None:
        self._pieces = pieces
        self._head: Piece = b""  # what is left of the current piece

    def span(self, size: int) -> Iterator[Piece]:
        """The next ``size`` bytes, in pieces (fewer if the stream ends first)."""
        remaining = size
        while remaining:
            if not self._head:
                try:
                    self._head = next(self._pieces)
                except StopIteration:
                    return
                continue
            head = self._head
            if len(head) <= remaining:
                self._head = b""
                remaining -= len(head)
                yield head
            else:
                view = memoryview(head)
                self._head = view[remaining:]
                yield view[:remaining]
                remaining = 0

    def has_more(self) -> bool:
        """Whether the stream sends anything past what the spans took (waiting END_WAIT at
        most for it to end); the stream is closed when it has not."""
        if self._head:
            return True
        extra = end_of(self._pieces)
        if extra is None:
            return False
        self._head = extra
        return True

    def close(self) -> None:
        close_pieces(self._pieces)
