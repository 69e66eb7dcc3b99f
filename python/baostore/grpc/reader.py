"""An UNVERIFIED seekable reader over a remote blob, fetched chunk by chunk.

The blob is split into segments: its chunks when the store listed them, else the whole blob.
Reading streams the segment under the current position (one message held at a time, so memory
stays bounded); seeking within a segment skips forward or restarts its stream; seeking elsewhere
opens that segment's stream. Nothing here checks the bytes against the digest: the verified
reader (issue 4) replaces this class for remote stores.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from baostore.store.interface import ChunkMeta, StoreError

# read_raw(digest) of the remote store: the bytes of a blob or chunk in pieces, or None if absent.
RawFetch = Callable[[bytes], Iterator[bytes] | None]


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
        self._segments = _segments(digest, size, chunks)
        self._offsets = [segment.offset for segment in self._segments]
        self._position = 0
        # The open stream: which segment, the absolute offset of `_pending`, and the unread rest
        # of its current message.
        self._stream: Iterator[bytes] | None = None
        self._stream_segment = -1
        self._stream_offset = 0
        self._pending = memoryview(b"")

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
            return bytes(first)
        parts = [bytes(first)]
        got = len(first)
        while got < wanted:
            piece = self._next_piece(wanted - got)
            parts.append(bytes(piece))
            got += len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        self._check_open()
        remaining = self._size - self._position
        wanted = remaining if size < 0 else min(size, remaining)
        return bytes(self._next_piece(wanted)) if wanted > 0 else b""

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

    def _next_piece(self, limit: int) -> memoryview:
        """Up to ``limit`` (> 0) bytes at the current position, from the stream holding them."""
        index = bisect.bisect_right(self._offsets, self._position) - 1
        segment = self._segments[index]
        if index != self._stream_segment or self._stream_offset > self._position:
            self._open_segment(index)
        while self._stream_offset + len(self._pending) <= self._position:
            self._stream_offset += len(self._pending)
            self._pending = memoryview(self._next_message(segment))
        skip = self._position - self._stream_offset
        segment_end = segment.offset + segment.size
        take = min(limit, len(self._pending) - skip, segment_end - self._position)
        piece = self._pending[skip : skip + take]
        self._pending = self._pending[skip + take :]
        self._stream_offset = self._position + take
        self._position += take
        return piece

    def _open_segment(self, index: int) -> None:
        self._drop_stream()
        segment = self._segments[index]
        stream = self._fetch(segment.digest)
        if stream is None:
            what = f"blob {self._digest.hex()}"
            if segment.digest != self._digest:
                what = f"chunk {segment.digest.hex()} of {what}"
            raise StoreError(f"{what} is missing on the server")
        self._stream = stream
        self._stream_segment = index
        self._stream_offset = segment.offset

    def _next_message(self, segment: _Segment) -> bytes:
        assert self._stream is not None
        try:
            return next(self._stream)
        except StopIteration:
            raise StoreError(
                f"the stream of {segment.digest.hex()} ended at byte "
                f"{self._stream_offset - segment.offset} of {segment.size}"
            ) from None

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._stream_segment = -1
        self._pending = memoryview(b"")
        close = getattr(stream, "close", None)
        if callable(close):
            close()


def _segments(digest: bytes, size: int, chunks: tuple[ChunkMeta, ...]) -> list[_Segment]:
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
