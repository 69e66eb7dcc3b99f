"""``BlobChunk`` messages encoded and decoded by hand on the data path.

A ``BlobChunk`` is one length-delimited field (number 1, ``data``). Building a protobuf object per
1 MiB message and serializing it copies the data twice more than needed; here a message is made
by one join of its 2-5 byte header and the data, and a received one is read as a view of the
bytes gRPC delivered (no copy). Anything other than that exact shape (unknown fields, the field
twice, an empty message) is decoded by protobuf itself, so the meaning stays the library's.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing_extensions import Buffer

from baostore.grpc.services import DATA_MESSAGE_SIZE
from baostore.proto import blobstore_pb2

# Field 1, wire type 2 (length-delimited): the only tag a hand-made BlobChunk carries.
_DATA_TAG = 0x0A
# A length of up to 2^35 - 1 takes at most 5 varint bytes; messages stay far below that.
_MAX_LENGTH_BYTES = 5


def _header(length: int) -> bytes:
    """The tag and varint length that precede ``length`` bytes of data."""
    header = bytearray((_DATA_TAG,))
    while length > 0x7F:
        header.append((length & 0x7F) | 0x80)
        length >>= 7
    header.append(length)
    return bytes(header)


_FULL_HEADER = _header(DATA_MESSAGE_SIZE)


def encode_blob_chunks(piece: Buffer) -> list[bytes]:
    """A piece of a stream as encoded ``BlobChunk`` messages: one per DATA_MESSAGE_SIZE bytes of
    it (the last shorter; none for an empty piece), each made with one join of its header and a
    view of the piece, the only copy of its bytes. Messages follow the pieces (a chunk of a
    blob starts a message), so a reader sees the stream as the store cut it."""
    view = memoryview(piece).cast("B")
    return [
        encode_blob_chunk((view[start : start + DATA_MESSAGE_SIZE],))
        for start in range(0, len(view), DATA_MESSAGE_SIZE)
    ]


def encode_blob_chunk(data: Sequence[Buffer]) -> bytes:
    """One encoded ``BlobChunk`` whose data is the pieces ``data`` one after another (at most
    DATA_MESSAGE_SIZE bytes), made with one join, the only copy of their bytes."""
    size = sum(len(memoryview(piece)) for piece in data)
    header = _FULL_HEADER if size == DATA_MESSAGE_SIZE else _header(size)
    return b"".join((header, *data))


def decode_blob_chunk(raw: bytes) -> bytes | memoryview:
    """The ``data`` of an encoded ``BlobChunk``: a view of ``raw`` when the message is the one
    field alone (what baostore and protobuf encoders send), else what protobuf decodes (a
    ``DecodeError`` for bytes that are no such message)."""
    size = len(raw)
    if size > 1 and raw[0] == _DATA_TAG:
        length = 0
        for index in range(1, min(size, 1 + _MAX_LENGTH_BYTES)):
            byte = raw[index]
            length |= (byte & 0x7F) << (7 * (index - 1))
            if not byte & 0x80:
                if index + 1 + length == size:
                    return memoryview(raw)[index + 1 :]
                break
    return blobstore_pb2.BlobChunk.FromString(raw).data
