"""BlobChunk messages encoded and decoded by hand mean what protobuf says they mean (hypothesis):
any bytes decode to protobuf's data or fail as protobuf does; what is encoded decodes back."""

from __future__ import annotations

import pytest
from baostore.grpc.messages import decode_blob_chunk, encode_blob_chunks
from baostore.grpc.services import DATA_MESSAGE_SIZE
from baostore.proto import blobstore_pb2
from baostore.verify.pieces import MIN_PIECE, ChunkPieces
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=300, deadline=None)


def _protobuf(raw: bytes) -> bytes | DecodeError:
    try:
        return blobstore_pb2.BlobChunk.FromString(raw).data
    except DecodeError as error:
        return error


def _ours(raw: bytes) -> bytes | DecodeError:
    try:
        return bytes(decode_blob_chunk(raw))
    except DecodeError as error:
        return error


def _same(raw: bytes) -> None:
    expected, got = _protobuf(raw), _ours(raw)
    if isinstance(expected, DecodeError):
        assert isinstance(got, DecodeError)
    else:
        assert got == expected


@PROPERTIES
@given(raw=st.binary(max_size=300))
def test_any_bytes_decode_as_protobuf_decodes_them(raw: bytes) -> None:
    _same(raw)


@PROPERTIES
@given(data=st.binary(max_size=3000))
def test_a_protobuf_message_decodes_to_its_data_as_a_view(data: bytes) -> None:
    raw = blobstore_pb2.BlobChunk(data=data).SerializeToString()
    decoded = decode_blob_chunk(raw)
    assert bytes(decoded) == data
    if data:
        assert isinstance(decoded, memoryview)  # the one-field shape: no copy


@PROPERTIES
@given(
    parts=st.lists(st.binary(max_size=200), min_size=1, max_size=4),
    unknown=st.sampled_from([b"", b"\x10\x05", b"\x1a\x02ab", b"\x25\x00\x00\x00\x00"]),
    where=st.integers(0, 4),
)
def test_repeated_and_unknown_fields_mean_what_protobuf_says(
    parts: list[bytes], unknown: bytes, where: int
) -> None:
    encoded = [blobstore_pb2.BlobChunk(data=part).SerializeToString() for part in parts]
    encoded.insert(min(where, len(encoded)), unknown)
    _same(b"".join(encoded))


@PROPERTIES
@given(size=st.integers(0, 3 * DATA_MESSAGE_SIZE), step=st.integers(1, 7919))
def test_encoded_messages_carry_the_data_in_order(size: int, step: int) -> None:
    data = bytes(index % step % 251 for index in range(0, size, 4096)) * 4096
    data = data[:size]
    messages = encode_blob_chunks(data)
    assert len(messages) == -(-size // DATA_MESSAGE_SIZE)
    decoded = [blobstore_pb2.BlobChunk.FromString(message).data for message in messages]
    assert all(len(part) <= DATA_MESSAGE_SIZE for part in decoded)
    assert b"".join(decoded) == data


@PROPERTIES
@given(
    sizes=st.lists(st.sampled_from([1, 16, 1000, MIN_PIECE - 1, MIN_PIECE, 100_000]), max_size=30)
)
def test_a_chunks_pieces_keep_its_bytes_and_join_the_small_ones(sizes: list[int]) -> None:
    pieces = [bytes([index % 251]) * size for index, size in enumerate(sizes)]
    gathered = ChunkPieces()
    for piece in pieces:
        gathered.append(piece)
    result = gathered.pieces()
    assert b"".join(result) == b"".join(pieces)
    # Big pieces pass as they came; small ones never stand next to each other.
    assert [piece for piece in result if len(piece) >= MIN_PIECE and isinstance(piece, bytes)] == [
        piece for piece in pieces if len(piece) >= MIN_PIECE
    ]
    assert len(result) <= 2 * sum(1 for size in sizes if size >= MIN_PIECE) + 1


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16383, 16384, DATA_MESSAGE_SIZE])
def test_lengths_at_varint_borders(length: int) -> None:
    data = b"\x5a" * length
    messages = encode_blob_chunks(data)
    if not length:
        assert messages == []
        return
    (message,) = messages
    assert message == blobstore_pb2.BlobChunk(data=data).SerializeToString()
    assert bytes(decode_blob_chunk(message)) == data
