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


class Readahead:
    """Pulls ``pieces`` in a thread, up to ``depth`` pieces ahead of the consumer.

    Errors of the stream are raised to the consumer in order, after the pieces before them.
    ``close`` lets the thread stop at its next piece (and close the stream).
    """

    def __init__(self, pieces: Iterator[Piece], depth: int) -> None:
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
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is None:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    def close(self) -> None:
        self._done = True
        self._closed.set()

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
        """Whether the stream holds anything past what the spans took."""
        if self._head:
            return True
        for piece in self._pieces:
            if piece:
                self._head = piece
                return True
        return False

    def close(self) -> None:
        close_pieces(self._pieces)
