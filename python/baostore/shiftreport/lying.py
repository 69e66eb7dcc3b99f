"""A lying store for the detection measurement: one blob served with one byte inverted.

The store answers Stat honestly except that it lists no chunks ("no finer chunking"), so a client
reads the blob as one Read stream. That keeps chunk sizes and chunk read-ahead out of the figure:
what the client receives before it notices is then set by the verification granularity alone.
Up to the 1 KiB chunk that holds the bad byte the stream comes in the inner store's big pieces;
from there on in 1 KiB pieces (one gRPC message each), so the client never has to take more than
it needs to reach the end of the chunk group that fails.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace

from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobReader, BlobStore, BlobWriter, Stat, StoreError

FINE_PIECE_SIZE = 1024  # the BLAKE3 chunk: no chunk group ends inside one


class ByteFlippingStore(ForwardingStore):
    """``inner`` with the byte at ``offset`` of blob ``digest`` inverted; read-only.

    ``fine_span``: how many bytes from the bad byte's 1 KiB chunk on are sent in 1 KiB pieces
    (the largest chunk group measured); later bytes go in the inner store's pieces again.
    """

    def __init__(self, inner: BlobStore, digest: bytes, offset: int, fine_span: int) -> None:
        if offset < 0:
            raise ValueError(f"the byte to corrupt must be at a non-negative offset, got {offset}")
        super().__init__(inner)
        self.digest = digest
        self.offset = offset
        self.fine_span = fine_span

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        if digest != self.digest:
            return stat
        inline = None if stat.inline is None else self._flip_inline(stat.inline)
        return replace(stat, chunks=(), inline=inline)

    def open_read(self, digest: bytes) -> BlobReader | None:
        pieces = self.read_raw(digest)
        return None if pieces is None else io.BytesIO(b"".join(pieces))

    def open_write(self) -> BlobWriter:
        raise StoreError("the lying store of shift-report is read-only")

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None or digest != self.digest:
            return pieces
        return self._corrupted(pieces)

    def _flip_inline(self, data: bytes) -> bytes:
        if self.offset >= len(data):
            return data
        flipped = bytearray(data)
        flipped[self.offset] ^= 0xFF
        return bytes(flipped)

    def _corrupted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        fine_start = self.offset - self.offset % FINE_PIECE_SIZE
        fine_end = fine_start + max(self.fine_span, FINE_PIECE_SIZE)
        position = 0
        for piece in pieces:
            view = memoryview(piece)
            while view:
                # Cut at the borders of the fine region so no piece straddles one.
                if position < fine_start:
                    take = min(len(view), fine_start - position)
                elif position < fine_end:
                    take = min(len(view), FINE_PIECE_SIZE, fine_end - position)
                else:
                    take = len(view)
                out = view[:take]
                if position <= self.offset < position + take:
                    corrupted = bytearray(out)
                    corrupted[self.offset - position] ^= 0xFF
                    yield bytes(corrupted)
                else:
                    yield bytes(out)
                position += take
                view = view[take:]
