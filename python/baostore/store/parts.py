"""A stored blob's parts: its post-order bao, its chunk list and the chunk index, read by range.

A version-2 record (record.py) names three parts, each kept inline in the record when small, else
as an object of its own under ``parts/<upload id>/<name>``, written while the Put streams:

* ``bao``: the blob's bao at the stored shift in the post_order layout (a pair follows its
  subtree, so it is known as the data streams in; any pair is found by offset);
* ``chunks``: one fixed-size entry per chunk, ``digest (32) ‖ end offset (u64 LE)``, in order;
* ``index``: one u64 LE per block of ``index_block`` bytes of the blob: the number of the chunk
  holding the block's first byte. With blocks no smaller than the largest chunk, every block
  holds a chunk boundary, so the chunks of any byte range are found with two ranged reads (the
  index entries of its blocks, then the chunk entries between them), never a search.

``BlobParts`` reads them for a window; records of version 1 (the whole pre_order bao and chunk
list in the record) are read through the same interface from memory. ``PartsWriter`` writes
them while a Put streams, in memory independent of the blob's size.
"""

from __future__ import annotations

import secrets
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from baostore import bao
from baostore.errors import DataLossError
from baostore.sizes import KiB
from baostore.store.interface import DIGEST_SIZE, ChunkMeta, StoreError
from baostore.store.objects import ObjectBackend, ObjectWriter

PARTS_PREFIX = "parts"
PART_NAMES = ("bao", "chunks", "index")
CHUNK_ENTRY = struct.Struct(f"<{DIGEST_SIZE}sQ")
INDEX_ENTRY = struct.Struct("<Q")
UPLOAD_ID_SIZE = 16
# A part up to this size stays inline in the record (one object per blob for most blobs); a
# bigger one spills into an object of its own as it grows.
INLINE_PART_LIMIT = 64 * KiB
# Chunk entries read at a time when walking a whole chunk list (fsck, whole-blob reads).
ENTRY_BATCH = 4096


def part_key(upload_id: bytes, name: str) -> str:
    return f"{PARTS_PREFIX}/{upload_id.hex()}/{name}"


@dataclass(frozen=True)
class PartRef:
    """Where a part is: ``inline`` bytes in the record, or an object of ``length`` bytes."""

    length: int
    inline: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ChunkPlace:
    """A chunk placed in its blob: ``[start, end)``."""

    digest: bytes
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def meta(self) -> ChunkMeta:
        """The chunk as a chunk list names it (digest and size)."""
        return ChunkMeta(self.digest, self.size)


def index_blocks(size: int, index_block: int, chunk_count: int) -> int:
    """How many chunk-index entries a blob of ``size`` bytes in ``chunk_count`` chunks has: one
    per ``index_block`` bytes, none for a blob without a chunk list."""
    return -(-size // index_block) if chunk_count else 0


class BlobParts:
    """Ranged reads of one stored blob's bao (post_order), chunk list and chunk index."""

    def __init__(
        self,
        backend: ObjectBackend,
        digest: bytes,
        size: int,
        bao_shift: int,
        chunk_count: int,
        index_block: int,
        upload_id: bytes,
        parts: Sequence[PartRef],
    ) -> None:
        self.backend = backend
        self.digest = digest
        self.size = size
        self.bao_shift = bao_shift
        self.chunk_count = chunk_count
        self.index_block = index_block
        self.upload_id = upload_id
        self.parts = dict(zip(PART_NAMES, parts, strict=True))

    @classmethod
    def in_memory(
        cls,
        backend: ObjectBackend,
        digest: bytes,
        size: int,
        bao_shift: int,
        chunks: tuple[ChunkMeta, ...],
        pre_order: bytes,
    ) -> BlobParts:
        """The parts of a version-1 record (whole pre_order bao and chunk list), rebuilt in memory
        into the version-2 layouts so that both are read one way."""
        post_order = bao.pre_order_to_post_order(pre_order, size, bao_shift) if pre_order else b""
        ends = list(accumulate(chunk.size for chunk in chunks))
        entries = b"".join(
            CHUNK_ENTRY.pack(chunk.digest, end) for chunk, end in zip(chunks, ends, strict=True)
        )
        block = max((chunk.size for chunk in chunks), default=1)
        index = b"".join(
            INDEX_ENTRY.pack(bisect_right(ends, offset)) for offset in range(0, size, block)
        )
        refs = [PartRef(len(part), part) for part in (post_order, entries, index)]
        return cls(backend, digest, size, bao_shift, len(chunks), block, b"", refs)

    @property
    def object_keys(self) -> list[str]:
        """The keys of the parts kept as objects of their own."""
        return [
            part_key(self.upload_id, name) for name, ref in self.parts.items() if ref.inline is None
        ]

    def read(self, name: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``[start, end)`` of part ``name``; DataLossError if it is short or
        missing (the record says it exists)."""
        ref = self.parts[name]
        for start, end in ranges:
            if not 0 <= start <= end <= ref.length:
                raise DataLossError(
                    f"blob {self.digest.hex()}: range [{start}, {end}) is outside its {name} "
                    f"part of {ref.length} bytes"
                )
        if ref.inline is not None:
            return [ref.inline[start:end] for start, end in ranges]
        try:
            return self.backend.get_ranges(part_key(self.upload_id, name), ranges)
        except StoreError as error:
            raise DataLossError(
                f"blob {self.digest.hex()}: its {name} part cannot be read: {error}"
            ) from error

    # -- chunks ---------------------------------------------------------------------------

    def chunk_entries(self, first: int, stop: int) -> list[ChunkPlace]:
        """Chunks ``first`` up to ``stop`` (exclusive), placed."""
        first = max(0, first)
        stop = min(stop, self.chunk_count)
        if first >= stop:
            return []
        start_of_first = 0
        low = (first - 1) * CHUNK_ENTRY.size if first else first * CHUNK_ENTRY.size
        (raw,) = self.read("chunks", [(low, stop * CHUNK_ENTRY.size)])
        if first:
            _, start_of_first = CHUNK_ENTRY.unpack_from(raw, 0)
            raw = raw[CHUNK_ENTRY.size :]
        places = []
        start = start_of_first
        for digest, end in CHUNK_ENTRY.iter_unpack(raw):
            if not start < end <= self.size:
                raise DataLossError(
                    f"blob {self.digest.hex()}: its chunk list places a chunk at "
                    f"[{start}, {end}) in a blob of {self.size} bytes"
                )
            places.append(ChunkPlace(digest, start, end))
            start = end
        return places

    @property
    def index_blocks(self) -> int:
        """How many chunk-index entries the blob has."""
        return index_blocks(self.size, self.index_block, self.chunk_count)

    def index_entries(self, first: int, stop: int) -> list[int]:
        """Chunk-index entries ``first`` up to ``stop`` (exclusive): for each block, the number
        of the chunk holding its first byte."""
        first = max(0, first)
        stop = min(stop, self.index_blocks)
        if first >= stop:
            return []
        (raw,) = self.read("index", [(first * INDEX_ENTRY.size, stop * INDEX_ENTRY.size)])
        numbers = [number for (number,) in INDEX_ENTRY.iter_unpack(raw)]
        if any(number >= self.chunk_count for number in numbers) or numbers != sorted(numbers):
            raise DataLossError(
                f"blob {self.digest.hex()}: its chunk index is damaged in blocks {first}..{stop}"
            )
        return numbers

    def chunk_numbers(self, start: int, end: int) -> tuple[int, int]:
        """``(first, stop)``: the numbers of the chunks that overlap ``[start, end)`` lie within
        them (one ranged read of two index entries; the caller trims the few extra)."""
        block = self.index_block
        first_block = start // block
        after_block = (end - 1) // block + 1
        if after_block < self.index_blocks:
            first, after = self.index_entries_at([first_block, after_block])
            return first, after + 1
        (first,) = self.index_entries_at([first_block])
        return first, self.chunk_count

    def index_entries_at(self, blocks: Sequence[int]) -> list[int]:
        """The chunk-index entries of ``blocks`` (one request for all)."""
        if any(not 0 <= block < self.index_blocks for block in blocks):
            raise DataLossError(f"blob {self.digest.hex()}: no chunk-index entry for {blocks}")
        raw = self.read(
            "index",
            [(block * INDEX_ENTRY.size, (block + 1) * INDEX_ENTRY.size) for block in blocks],
        )
        numbers = [INDEX_ENTRY.unpack(piece)[0] for piece in raw]
        if any(number >= self.chunk_count for number in numbers):
            raise DataLossError(f"blob {self.digest.hex()}: its chunk index is damaged")
        return numbers

    def chunks_overlapping(
        self, start: int, end: int, numbers: tuple[int, int] | None = None
    ) -> list[ChunkPlace]:
        """The chunks that overlap ``[start, end)`` (``start < end <= size``), in order;
        ``numbers``: the ``chunk_numbers`` of the range, when the caller read them already."""
        if self.chunk_count == 0:
            return [ChunkPlace(self.digest, 0, self.size)] if self.size else []
        first, stop = self.chunk_numbers(start, end) if numbers is None else numbers
        places = [
            place
            for place in self.chunk_entries(first, stop)
            if place.end > start and place.start < end
        ]
        if not places or places[0].start > start or places[-1].end < end:
            raise DataLossError(
                f"blob {self.digest.hex()}: its chunk list does not cover [{start}, {end})"
            )
        return places

    def all_chunks(self) -> Iterator[ChunkPlace]:
        """Every chunk in order, read in batches (a blob of one chunk: that chunk)."""
        if self.chunk_count == 0:
            if self.size:
                yield ChunkPlace(self.digest, 0, self.size)
            return
        for first in range(0, self.chunk_count, ENTRY_BATCH):
            yield from self.chunk_entries(first, first + ENTRY_BATCH)


class SpillingPart:
    """One part written as a Put streams: kept in memory up to INLINE_PART_LIMIT, then spilled
    into an object of its own (``key``) that grows with the blob; ``on_spill(key)`` is told first
    (a writer announces the object, see intents.py)."""

    def __init__(
        self, backend: ObjectBackend, key: str, on_spill: Callable[[str], None] | None = None
    ) -> None:
        self._backend = backend
        self._key = key
        self._on_spill = on_spill
        self._buffer = bytearray()
        self._writer: ObjectWriter | None = None
        self.length = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` (bytes: an object writer may keep a reference until it uploads)."""
        if not data:
            return
        self.length += len(data)
        if self._writer is None and len(self._buffer) + len(data) <= INLINE_PART_LIMIT:
            self._buffer += data
            return
        if self._writer is None:
            if self._on_spill is not None:
                self._on_spill(self._key)
            self._writer = self._backend.open_writer(self._key)
            self._writer.write(bytes(self._buffer))
            self._buffer = bytearray()
        self._writer.write(data)

    def close(self) -> PartRef:
        """Finish the part: its object appears now (before the record that names it)."""
        if self._writer is None:
            return PartRef(self.length, bytes(self._buffer))
        self._writer.close()
        return PartRef(self.length)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        self._buffer = bytearray()


class PartsWriter:
    """The parts of one blob as its Put streams: the post-order bao from a ``PostOrderBuilder``,
    chunk entries and index entries as chunks are settled in order."""

    def __init__(
        self,
        backend: ObjectBackend,
        index_block: int,
        on_spill: Callable[[str], None] | None = None,
    ) -> None:
        self._backend = backend
        self.upload_id = secrets.token_bytes(UPLOAD_ID_SIZE)
        self.index_block = index_block
        self._parts = [
            SpillingPart(backend, part_key(self.upload_id, name), on_spill) for name in PART_NAMES
        ]
        self._chunks: list[ChunkMeta] = []
        self.chunk_count = 0
        self.size = 0
        self._next_block = 0

    def add_bao(self, post_order_pairs: bytes) -> None:
        self._parts[0].write(post_order_pairs)

    def add_chunk(self, chunk: ChunkMeta) -> None:
        """The next chunk of the blob, in order."""
        start = self.size
        self.size += chunk.size
        self._parts[1].write(CHUNK_ENTRY.pack(chunk.digest, self.size))
        entries = bytearray()
        while self._next_block * self.index_block < self.size:
            if self._next_block * self.index_block >= start:
                entries += INDEX_ENTRY.pack(self.chunk_count)
            self._next_block += 1
        self._parts[2].write(bytes(entries))
        self.chunk_count += 1

    def close(self) -> list[PartRef]:
        """Finish every part: their objects exist from now on (the record comes after)."""
        return [part.close() for part in self._parts]

    def abort(self) -> None:
        for part in self._parts:
            part.abort()

    def discard(self, refs: Sequence[PartRef]) -> None:
        """Remove the objects of closed parts nothing will name (the blob was already stored)."""
        for ref, name in zip(refs, PART_NAMES, strict=True):
            if ref.inline is None:
                self._backend.delete(part_key(self.upload_id, name))
