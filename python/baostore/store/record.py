"""The per-blob record of the chunked store: size, chunk list and the stored bao.

Version 2 (written since ranged Stat) names the blob's parts (parts.py): the post-order bao, the
chunk list and the chunk index, each inline when small or an object of its own::

    magic        6 bytes  b"BAOREC"
    version      u8       2
    bao_shift    u8       shift of the stored bao (0..=MAX_SHIFT)
    size         u64      blob size in bytes
    count        u64      number of chunks; 0 means "the blob is one chunk" (or empty)
    index_block  u64      bytes of the blob per chunk-index entry (at least the largest chunk)
    chunk sizes  3 x u32  min, avg, max of the chunking the blob was cut with
    upload id    16 bytes names the part objects: parts/<hex id>/{bao,chunks,index}
    3 x part     u8 inline (1) or object (0), u64 length, the bytes when inline
    checksum     32 bytes blake3 of everything before it

The record is written last, after every part object and chunk: it is the commit point. Its
parts' lengths must match the size, shift and count exactly.

Binary layout, version 1 (integers little-endian), still read::

    magic      6 bytes  b"BAOREC"
    version    u8       1
    bao_shift  u8       shift of the stored bao (0..=MAX_SHIFT)
    size       u64      blob size in bytes
    count      u32      number of chunks; 0 means "the blob is one chunk" (or empty)
    chunks     count x (digest 32 bytes, size u32)
    bao        outboard_size(size, bao_shift, "pre_order") bytes (length implied, not stored)
    checksum   32 bytes blake3 of everything before it

Parsing is strict: every field is range-checked, chunk sizes must be positive and sum to the
size, a one-entry chunk list is refused (a single chunk is encoded as an empty list), the bao
length must match the size and shift exactly, and no byte may follow the checksum. The checksum
lets a consistency check find a damaged record without the blob's data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from baostore import bao
from baostore.store.interface import DIGEST_SIZE, ChunkMeta, ChunkSizes, check_shift
from baostore.store.parts import (
    CHUNK_ENTRY,
    INDEX_ENTRY,
    PART_NAMES,
    UPLOAD_ID_SIZE,
    PartRef,
    index_blocks,
)

RECORD_MAGIC = b"BAOREC"
RECORD_VERSION = 1
PARTS_RECORD_VERSION = 2
_HEADER = struct.Struct("<6sBBQI")
_HEADER_V2 = struct.Struct(f"<6sBBQQQIII{UPLOAD_ID_SIZE}s")
_PART = struct.Struct("<BQ")
_CHUNK = struct.Struct(f"<{DIGEST_SIZE}sI")
_CHECKSUM_SIZE = 32
MAX_CHUNK_SIZE_IN_RECORD = (1 << 32) - 1


class RecordError(ValueError):
    """A record that is not a well-formed version-1 blob record."""


@dataclass(frozen=True)
class BlobRecord:
    """What the store keeps about a blob besides its chunks."""

    size: int
    bao_shift: int
    chunks: tuple[ChunkMeta, ...]
    bao: bytes

    def __post_init__(self) -> None:
        _check_fields(self.size, self.bao_shift, self.chunks, len(self.bao))


@dataclass(frozen=True)
class PartsRecord:
    """A version-2 record: the blob's size, shift and chunking, and where its parts are."""

    size: int
    bao_shift: int
    chunk_count: int
    index_block: int
    chunk_sizes: ChunkSizes
    upload_id: bytes
    parts: tuple[PartRef, PartRef, PartRef]

    def __post_init__(self) -> None:
        if not 0 <= self.size < 1 << 64:
            raise RecordError(f"blob size {self.size} out of range")
        _check_shift(self.bao_shift)
        if self.chunk_count == 1:
            raise RecordError("a single chunk must be recorded as an empty chunk list")
        if self.index_block <= 0:
            raise RecordError(f"index block of {self.index_block} bytes")
        if len(self.upload_id) != UPLOAD_ID_SIZE:
            raise RecordError(f"upload id of {len(self.upload_id)} bytes")
        expected = (
            _pre_order_size(self.size, self.bao_shift),
            self.chunk_count * CHUNK_ENTRY.size,
            index_blocks(self.size, self.index_block, self.chunk_count) * INDEX_ENTRY.size,
        )
        for name, part, length in zip(PART_NAMES, self.parts, expected, strict=True):
            if part.length != length or (part.inline is not None and len(part.inline) != length):
                raise RecordError(f"{name} part of {part.length} bytes, expected {length}")


def encode_parts_record(record: PartsRecord) -> bytes:
    """Serialise a version-2 record (already validated by its constructor)."""
    sizes = record.chunk_sizes
    parts = [
        _HEADER_V2.pack(
            RECORD_MAGIC,
            PARTS_RECORD_VERSION,
            record.bao_shift,
            record.size,
            record.chunk_count,
            record.index_block,
            sizes.min,
            sizes.avg,
            sizes.max,
            record.upload_id,
        )
    ]
    for part in record.parts:
        parts.append(_PART.pack(part.inline is not None, part.length))
        if part.inline is not None:
            parts.append(part.inline)
    body = b"".join(parts)
    return body + bao.hash(body)


def decode_any_record(raw: bytes) -> BlobRecord | PartsRecord:
    """A record of either version; RecordError for anything else."""
    if len(raw) > 7 and raw[:6] == RECORD_MAGIC and raw[6] == PARTS_RECORD_VERSION:
        return decode_parts_record(raw)
    return decode_record(raw)


def decode_parts_record(raw: bytes) -> PartsRecord:
    """Parse a version-2 record, raising RecordError on anything but a well-formed one."""
    if len(raw) < _HEADER_V2.size + 3 * _PART.size + _CHECKSUM_SIZE:
        raise RecordError(f"record too short: {len(raw)} bytes")
    body_size = len(raw) - _CHECKSUM_SIZE
    if bao.hash(raw[:body_size]) != raw[body_size:]:
        raise RecordError("record checksum mismatch")
    magic, version, shift, size, count, block, low, avg, high, upload_id = _HEADER_V2.unpack_from(
        raw, 0
    )
    if magic != RECORD_MAGIC or version != PARTS_RECORD_VERSION:
        raise RecordError(f"not a version-{PARTS_RECORD_VERSION} blob record")
    offset = _HEADER_V2.size
    parts = []
    for _ in range(3):
        if offset + _PART.size > body_size:
            raise RecordError("record ends inside its part list")
        inline, length = _PART.unpack_from(raw, offset)
        offset += _PART.size
        if inline > 1:
            raise RecordError(f"part flag {inline}")
        if inline:
            if offset + length > body_size:
                raise RecordError("record ends inside an inline part")
            parts.append(PartRef(length, raw[offset : offset + length]))
            offset += length
        else:
            parts.append(PartRef(length))
    if offset != body_size:
        raise RecordError(f"{body_size - offset} bytes follow the record's parts")
    try:
        sizes = ChunkSizes(min=low, avg=avg, max=high)
    except ValueError as error:
        raise RecordError(f"chunk sizes: {error}") from error
    return PartsRecord(size, shift, count, block, sizes, upload_id, (parts[0], parts[1], parts[2]))


def encode_record(record: BlobRecord) -> bytes:
    """Serialise ``record`` (already validated by its constructor)."""
    parts = [
        _HEADER.pack(
            RECORD_MAGIC, RECORD_VERSION, record.bao_shift, record.size, len(record.chunks)
        )
    ]
    parts.extend(_CHUNK.pack(chunk.digest, chunk.size) for chunk in record.chunks)
    parts.append(record.bao)
    body = b"".join(parts)
    return body + bao.hash(body)


def decode_record(raw: bytes) -> BlobRecord:
    """Parse a record, raising RecordError on anything but a well-formed version-1 record."""
    if len(raw) < _HEADER.size + _CHECKSUM_SIZE:
        raise RecordError(f"record too short: {len(raw)} bytes")
    magic, version, shift, size, count = _HEADER.unpack_from(raw, 0)
    if magic != RECORD_MAGIC:
        raise RecordError(f"not a blob record (magic {magic!r})")
    if version != RECORD_VERSION:
        raise RecordError(f"unsupported record version {version} (expected {RECORD_VERSION})")
    _check_shift(shift)
    body_size = len(raw) - _CHECKSUM_SIZE
    bao_size = _pre_order_size(size, shift)
    # Checked before slicing so that a huge claimed count or size never drives any work.
    expected = _HEADER.size + count * _CHUNK.size + bao_size
    if expected != body_size:
        raise RecordError(
            f"record length {len(raw)} does not match its header "
            f"({count} chunks, size {size}, shift {shift} need {expected + _CHECKSUM_SIZE})"
        )
    body = raw[:body_size]
    if bao.hash(body) != raw[body_size:]:
        raise RecordError("record checksum mismatch")
    chunks = tuple(
        ChunkMeta(digest=digest, size=chunk_size)
        for digest, chunk_size in _CHUNK.iter_unpack(
            raw[_HEADER.size : _HEADER.size + count * _CHUNK.size]
        )
    )
    try:
        return BlobRecord(
            size=size, bao_shift=shift, chunks=chunks, bao=body[body_size - bao_size :]
        )
    except ValueError as error:
        raise RecordError(str(error)) from error


def _pre_order_size(size: int, shift: int) -> int:
    try:
        return bao.outboard_size(size, shift, "pre_order")
    except (ValueError, OverflowError) as error:
        raise RecordError(f"no bao exists for size {size} at shift {shift}: {error}") from error


def _check_shift(shift: int) -> None:
    try:
        check_shift(shift, "the record's bao shift")
    except ValueError as error:
        raise RecordError(str(error)) from None


def _check_fields(size: int, shift: int, chunks: tuple[ChunkMeta, ...], bao_size: int) -> None:
    if not 0 <= size < 1 << 64:
        raise RecordError(f"blob size {size} out of range")
    _check_shift(shift)
    if len(chunks) == 1:
        raise RecordError("a single chunk must be recorded as an empty chunk list")
    for index, chunk in enumerate(chunks):
        if len(chunk.digest) != DIGEST_SIZE:
            raise RecordError(f"chunk {index}: digest of {len(chunk.digest)} bytes")
        if not 0 < chunk.size <= MAX_CHUNK_SIZE_IN_RECORD:
            raise RecordError(f"chunk {index}: size {chunk.size} out of range")
    if chunks and sum(chunk.size for chunk in chunks) != size:
        raise RecordError(f"chunk sizes sum to {sum(c.size for c in chunks)}, not {size}")
    expected_bao = _pre_order_size(size, shift)
    if bao_size != expected_bao:
        raise RecordError(f"bao of {bao_size} bytes, expected {expected_bao} for size {size}")
