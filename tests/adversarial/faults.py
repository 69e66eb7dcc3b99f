"""A lying store: wraps an honest one and corrupts what it says in one chosen way.

Served through the real gRPC server it is the malicious server of the adversarial suite: every
fault is applied to the Stat answer or to the pieces that become ``Read`` messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal, get_args

from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BaoFormat, BlobStore, ByteRange, ChunkMeta, Stat, StatRequest

FaultKind = Literal[
    "flip_read",  # flip one bit of one Read piece
    "flip_bao",  # flip one bit of the bao
    "truncate_read",  # end a Read stream early
    "extend_read",  # append bytes to a Read stream
    "duplicate_piece",  # send one Read piece twice
    "drop_piece",  # leave one Read piece out
    "reorder_pieces",  # swap two neighbouring Read pieces
    "wrong_size",  # claim another blob size
    "wrong_shift",  # claim another bao shift (bao unchanged)
    "wrong_format",  # claim the other bao format
    "wrong_chunk_sizes",  # move bytes from one chunk's declared size to the next
    "drop_chunk",  # leave one chunk out of the list
    "swap_chunks",  # swap two chunks in the list
    "foreign_chunk",  # serve a chunk of another blob in place of one of ours
    "stall_read",  # stop sending in the middle of a Read
    # Lies of ranged answers (a window and its proof), applied to every window answered:
    "other_window",  # answer a neighbouring window instead of the one asked (its true proof)
    "other_window_proof",  # the asked window with the proof of a neighbouring one
    "proof_too_long",  # 64 more bytes of proof
    "window_beyond_chunks",  # chunks that end before the window claimed does
    "chunks_after_window_start",  # chunks that start after the window does
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


@dataclass(frozen=True)
class Fault:
    """What to corrupt. ``target`` picks the Read stream (n-th ``read_raw`` call, counting from
    0), ``position`` the piece / bit / byte inside it; both wrap around what exists."""

    kind: FaultKind
    target: int = 0
    position: int = 0
    amount: int = 1
    stall_seconds: float = 30.0


class FaultyStore(ForwardingStore):
    """Honest ``inner`` store with one fault applied; ``foreign`` supplies other blobs' chunks."""

    def __init__(
        self,
        inner: BlobStore,
        fault: Fault,
        foreign: bytes = b"\xa5" * 4096,
        piece_size: int = 8 << 10,
    ) -> None:
        super().__init__(inner)
        self.piece_size = piece_size
        self.fault = fault
        self.foreign = foreign
        self.reads_started = 0
        self.read_digests: list[bytes] = []

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        return self._corrupt_stat(stat)

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        stat = super().stat_request(digest, request)
        kind = self.fault.kind
        if stat is None or stat.window is None or request.range is None:
            return stat
        if kind in ("other_window", "other_window_proof"):
            other = self._neighbour(digest, request, stat)
            if other is not None and other.window is not None:
                if kind == "other_window":
                    return other
                if other.bao != stat.bao:
                    return replace(stat, bao=other.bao)
        return self._corrupt_window(stat)

    def _neighbour(self, digest: bytes, request: StatRequest, stat: Stat) -> Stat | None:
        """The honest answer for the window as long as this one after it (before it, if this
        one reaches the end): often a proof as long, always another window."""
        assert stat.window is not None
        start, end = stat.window
        if end < stat.size:
            neighbour = ByteRange(end, end + (end - start))
        elif start > 0:
            neighbour = ByteRange(max(0, start - (end - start)), start)
        else:
            return None
        return self.inner.stat_request(digest, replace(request, range=neighbour))

    def _corrupt_window(self, stat: Stat) -> Stat:
        assert stat.window is not None
        start, end = stat.window
        kind = self.fault.kind
        if kind == "proof_too_long":
            return replace(stat, bao=stat.bao + bytes(64))
        if kind == "window_beyond_chunks" and len(stat.chunks) >= 2:
            shorter = stat.chunks[:-1]
            if stat.chunks_offset + sum(chunk.size for chunk in shorter) < end:
                return replace(stat, chunks=shorter)
        if kind == "chunks_after_window_start" and len(stat.chunks) >= 2:
            first = stat.chunks[0]
            if stat.chunks_offset + first.size > start:
                return replace(
                    stat, chunks=stat.chunks[1:], chunks_offset=stat.chunks_offset + first.size
                )
        return stat

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        if pieces is None:
            return None
        index = self.reads_started
        self.reads_started += 1
        self.read_digests.append(digest)
        if index != self.fault.target:
            return pieces
        data = b"".join(pieces)
        step = self.piece_size
        return self._corrupt_read([data[i : i + step] for i in range(0, len(data), step)])

    # -- the faults -----------------------------------------------------------------------

    def _corrupt_stat(self, stat: Stat) -> Stat:
        fault = self.fault
        chunks = list(stat.chunks)
        if fault.kind == "flip_bao" and stat.bao:
            bit = fault.position % (len(stat.bao) * 8)
            return replace(stat, bao=_flip(stat.bao, bit))
        if fault.kind == "wrong_size":
            return replace(stat, size=max(0, stat.size + _nonzero(fault.amount)))
        if fault.kind == "wrong_shift":
            return replace(stat, bao_shift=(stat.bao_shift + _nonzero(fault.amount)) % 33)
        if fault.kind == "wrong_format":
            other: BaoFormat = "leaves" if stat.bao_format == "pre_order" else "pre_order"
            return replace(stat, bao_format=other)
        if len(chunks) >= 2:
            first = fault.position % (len(chunks) - 1)
            left, right = chunks[first], chunks[first + 1]
            if fault.kind == "wrong_chunk_sizes":
                moved = min(_nonzero(fault.amount) % right.size or 1, right.size - 1) or 1
                chunks[first] = ChunkMeta(left.digest, left.size + moved)
                chunks[first + 1] = ChunkMeta(right.digest, right.size - moved)
            elif fault.kind == "drop_chunk":
                del chunks[first]
            elif fault.kind == "swap_chunks":
                chunks[first], chunks[first + 1] = right, left
            return replace(stat, chunks=tuple(chunks))
        return stat

    def _corrupt_read(self, pieces: list[bytes]) -> Iterator[bytes]:
        fault = self.fault
        kind = fault.kind
        if not pieces:
            pieces = [b""]
        where = fault.position % len(pieces)
        if kind == "flip_read" and any(pieces):
            total_bits = sum(len(p) for p in pieces) * 8
            bit = fault.position % total_bits
            for i, piece in enumerate(pieces):
                if bit < len(piece) * 8:
                    pieces[i] = _flip(piece, bit)
                    break
                bit -= len(piece) * 8
        elif kind == "truncate_read":
            data = b"".join(pieces)
            pieces = [data[: max(0, len(data) - _nonzero(fault.amount))]]
        elif kind == "extend_read":
            pieces.append(bytes([fault.position % 256]) * _nonzero(fault.amount))
        elif kind == "duplicate_piece":
            pieces.insert(where, pieces[where])
        elif kind == "drop_piece":
            del pieces[where]
        elif kind == "reorder_pieces" and len(pieces) >= 2:
            first = where % (len(pieces) - 1)
            pieces[first], pieces[first + 1] = pieces[first + 1], pieces[first]
        elif kind == "foreign_chunk":
            pieces = [self.foreign]
        elif kind == "stall_read":
            return _stalling(pieces, where, fault.stall_seconds)
        return iter(pieces)


def _stalling(pieces: list[bytes], where: int, seconds: float) -> Iterator[bytes]:
    yield from pieces[:where]
    time.sleep(seconds)
    yield from pieces[where:]


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _nonzero(amount: int) -> int:
    return amount if amount != 0 else 1
