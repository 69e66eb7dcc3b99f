"""An UNVERIFIED seekable reader over a remote blob, streamed whole or chunk by chunk.

A read from the first chunk streams the whole blob with one Read, so a sequential read costs one
round trip. A read elsewhere streams just the chunk under the position, then the following
chunks one Read each. Seeking forward within a few MiB of an open stream skips ahead in it;
anything else opens the stream that holds the position. One message is held at a time, so
memory stays bounded. Nothing here checks the bytes against the digest: the verified reader
(issue 4) replaces this class for remote stores.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from baostore.store.interface import ChunkMeta, StoreError

# read_raw(digest) of the remote store: the bytes of a blob or chunk in pieces, or None if absent.
RawFetch = Callable[[bytes], Iterator[bytes] | None]

# Skipping this much of an open stream is cheaper than a new Read.
MAX_SKIP = 4 << 20


@dataclass(frozen=True)
class _Segment:
    digest: bytes
    offset: int
    size: int


class RemoteBlobReader(io.BufferedIOBase):
    """A read-only, seekable binary file over a blob that ``fetch`` streams segment by segment."""

    def __init__(
        self, fetch: RawFetch, digest: bytes, size: int, chunks: tuple[ChunkMeta, ...] = ()
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._digest = digest
        self._size = size
        self._whole = _Segment(digest, 0, size)
        self._chunks = _chunk_segments(digest, size, chunks)
        self._offsets = [segment.offset for segment in self._chunks]
        self._position = 0
        # The open stream: its segment, its current message, and the absolute offset of the
        # message's first byte. Pieces are sliced from the message (whole messages uncopied).
        self._stream: Iterator[bytes] | None = None
        self._segment: _Segment | None = None
        self._message = b""
        self._message_offset = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        remaining = self._size - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted <= 0:
            return b""
        first = self._next_piece(wanted)
        if len(first) == wanted:
            return first
        parts = [first]
        got = len(first)
        while got < wanted:
            piece = self._next_piece(wanted - got)
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        self._check_open()
        remaining = self._size - self._position
        wanted = remaining if size < 0 else min(size, remaining)
        return self._next_piece(wanted) if wanted > 0 else b""

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._drop_stream()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _next_piece(self, limit: int) -> bytes:
        """Up to ``limit`` (> 0) bytes at the current position, from the stream holding them."""
        if not self._stream_serves(self._position):
            self._open_segment(self._segment_at(self._position))
        segment = self._segment
        assert segment is not None
        while self._message_offset + len(self._message) <= self._position:
            following = self._next_message(segment)
            self._message_offset += len(self._message)
            self._message = following
        start = self._position - self._message_offset
        segment_end = segment.offset + segment.size
        take = min(limit, len(self._message) - start, segment_end - self._position)
        self._position += take
        # A slice of the whole message is the message itself: no copy in the common case.
        return self._message[start : start + take]

    def _segment_at(self, position: int) -> _Segment:
        """The stream to open for ``position``: the whole blob from the first chunk, else the
        chunk holding it."""
        index = bisect.bisect_right(self._offsets, position) - 1
        return self._whole if index <= 0 else self._chunks[index]

    def _stream_serves(self, position: int) -> bool:
        """Whether the open stream reaches ``position`` cheaply."""
        segment = self._segment
        if segment is None or not segment.offset <= position < segment.offset + segment.size:
            return False
        if self._message_offset > position:
            return False  # behind us: streams only go forward
        ahead = position - (self._message_offset + len(self._message))
        return ahead <= MAX_SKIP or self._segment_at(position) == segment

    def _open_segment(self, segment: _Segment) -> None:
        self._drop_stream()
        stream = self._fetch(segment.digest)
        if stream is None:
            what = f"blob {self._digest.hex()}"
            if segment.digest != self._digest:
                what = f"chunk {segment.digest.hex()} of {what}"
            raise StoreError(f"{what} is missing on the server")
        self._stream = stream
        self._segment = segment
        self._message = b""
        self._message_offset = segment.offset

    def _next_message(self, segment: _Segment) -> bytes:
        assert self._stream is not None
        try:
            return next(self._stream)
        except StopIteration:
            raise StoreError(
                f"the stream of {segment.digest.hex()} ended at byte "
                f"{self._message_offset + len(self._message) - segment.offset} of {segment.size}"
            ) from None

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._segment = None
        self._message = b""
        close = getattr(stream, "close", None)
        if callable(close):
            close()


def _chunk_segments(digest: bytes, size: int, chunks: tuple[ChunkMeta, ...]) -> list[_Segment]:
    if not chunks:
        return [_Segment(digest, 0, size)]
    segments = []
    offset = 0
    for chunk in chunks:
        segments.append(_Segment(chunk.digest, offset, chunk.size))
        offset += chunk.size
    if offset != size:
        raise StoreError(
            f"the chunk list of blob {digest.hex()} covers {offset} bytes, not its {size}"
        )
    return segments
