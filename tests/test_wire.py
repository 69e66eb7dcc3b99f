"""The server speaks the Tvix/Snix wire format: requests are encoded by hand here, with the field
numbers of tvix castore's rpc_blobstore.proto, and answers decoded by hand; no generated code."""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import pytest
from baostore import bao
from baostore.store.chunked import ChunkedStore
from blake3 import blake3

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

VARINT, LENGTH_DELIMITED = 0, 2


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def bytes_field(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | LENGTH_DELIMITED) + encode_varint(len(value)) + value


def decode_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def decode_fields(data: bytes) -> dict[int, list[int | bytes]]:
    """Every field of a message by number, in order (varint and length-delimited only)."""
    fields: dict[int, list[int | bytes]] = {}
    position = 0
    while position < len(data):
        key, position = decode_varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == VARINT:
            value, position = decode_varint(data, position)
        elif wire_type == LENGTH_DELIMITED:
            length, position = decode_varint(data, position)
            value, position = data[position : position + length], position + length
        else:
            raise AssertionError(f"unexpected wire type {wire_type} for field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def as_bytes(value: int | bytes) -> bytes:
    assert isinstance(value, bytes), f"expected a length-delimited field, got {value!r}"
    return value


def test_varint_helpers_round_trip() -> None:
    for value in (0, 1, 127, 128, 300, 2**32, 2**63):
        assert decode_varint(encode_varint(value), 0) == (value, len(encode_varint(value)))
    assert encode_varint(300) == b"\xac\x02"  # the example of the protobuf encoding guide


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(300_000)


@pytest.fixture(scope="module")
def server(blob: bytes) -> Iterator[tuple[grpc.Channel, ChunkedStore]]:
    store = small_chunk_memory_store()
    store.put(blob)
    with serve_in_thread(store) as url:
        channel = grpc.insecure_channel(url.removeprefix("grpc+http://"))
        yield channel, store
        channel.close()


def raw_unary(channel: grpc.Channel, path: str, request: bytes) -> bytes:
    call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    response: bytes = call(request, timeout=10)
    return response


def test_tvix_stat_with_chunks_and_bao(
    server: tuple[grpc.Channel, ChunkedStore], blob: bytes
) -> None:
    channel, _ = server
    digest = blake3(blob).digest()
    request = bytes_field(1, digest) + varint_field(2, 1) + varint_field(3, 1)
    fields = decode_fields(raw_unary(channel, "/tvix.castore.v1.BlobService/Stat", request))

    chunks = [decode_fields(entry) for entry in fields[2] if isinstance(entry, bytes)]
    assert len(chunks) > 1
    assert sum(int(chunk[2][0]) for chunk in chunks) == len(blob)  # ChunkMeta.size = 2
    offset = 0
    for chunk in chunks:
        size = int(chunk[2][0])
        assert chunk[1] == [blake3(blob[offset : offset + size]).digest()]  # ChunkMeta.digest = 1
        offset += size
    (shift,) = fields[4]
    assert shift == 4  # absent bao_shift: the store's default
    assert fields[6] == [len(blob)]
    assert 5 not in fields  # bao_format PRE_ORDER = 0 is not encoded
    (outboard,) = fields[3]
    assert isinstance(outboard, bytes)
    assert outboard == bao.outboard(blob, shift=4)[1]


def test_tvix_stat_of_a_bare_digest_request(
    server: tuple[grpc.Channel, ChunkedStore], blob: bytes
) -> None:
    """What an unmodified Tvix client sends: the digest and nothing else."""
    channel, _ = server
    request = bytes_field(1, blake3(blob).digest())
    fields = decode_fields(raw_unary(channel, "/tvix.castore.v1.BlobService/Stat", request))
    assert 2 not in fields and 3 not in fields and 7 not in fields
    assert fields[6] == [len(blob)]


def test_stat_extension_fields(server: tuple[grpc.Channel, ChunkedStore]) -> None:
    channel, store = server
    small = b"\x00\x01" * 40_000
    digest = store.put(small)
    request = (
        bytes_field(1, digest)
        + varint_field(3, 1)  # send_bao
        + varint_field(4, 0)  # bao_shift 0, explicitly present
        + varint_field(5, 1)  # bao_format LEAVES
        + varint_field(6, len(small))  # inline limit
    )
    fields = decode_fields(raw_unary(channel, "/snix.castore.v1.BlobService/Stat", request))
    assert 4 not in fields  # shift 0 is the proto3 default: not on the wire
    assert fields[5] == [1]
    assert fields[3] == [bao.outboard(small, shift=0, format="leaves")[1]]
    assert fields[7] == [small]


def test_snix_read_streams_the_blob(server: tuple[grpc.Channel, ChunkedStore], blob: bytes) -> None:
    channel, _ = server
    read = channel.unary_stream(
        "/snix.castore.v1.BlobService/Read", request_serializer=None, response_deserializer=None
    )
    messages = list(read(bytes_field(1, blake3(blob).digest()), timeout=10))
    data = b"".join(as_bytes(decode_fields(message)[1][0]) for message in messages)
    assert data == blob


def test_put_of_hand_encoded_chunks(server: tuple[grpc.Channel, ChunkedStore]) -> None:
    channel, store = server
    pieces = [b"hello ", b"", b"wire ", os.urandom(70_000)]
    put = channel.stream_unary(
        "/baostore.v1.BlobService/Put", request_serializer=None, response_deserializer=None
    )
    response = put(iter([bytes_field(1, piece) for piece in pieces]), timeout=10)
    expected = blake3(b"".join(pieces)).digest()
    assert decode_fields(response) == {1: [expected]}
    assert store.has(expected)


def test_wire_status_codes(server: tuple[grpc.Channel, ChunkedStore]) -> None:
    channel, _ = server
    with pytest.raises(grpc.RpcError) as missing:
        raw_unary(channel, "/tvix.castore.v1.BlobService/Stat", bytes_field(1, b"\x07" * 32))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as short:
        raw_unary(channel, "/tvix.castore.v1.BlobService/Stat", bytes_field(1, b"\x07" * 31))
    assert short.value.code() == grpc.StatusCode.INVALID_ARGUMENT
