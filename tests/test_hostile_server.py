"""Hostile clients: malformed and absurd requests get clear status codes; the server stays up.

Requests go through a raw channel (no serializers), so anything can be sent: random bytes,
hand-encoded messages with huge varints, wrong digest lengths, unknown enum values, shift 255,
inline limits of 2^64 - 1, messages beyond 4 MiB, endless Put streams. After each example the
health service must still answer SERVING.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import pytest
from baostore import bao
from baostore.grpc.limits import ServerLimits
from baostore.grpc.services import SERVICE_NAMES, method_path
from baostore.store.chunked import ChunkedStore
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

MIB = 1 << 20
MAX_BLOB = 4 * MIB
# What a hostile request may get: never UNKNOWN (an unhandled error) or INTERNAL.
CLEAR_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Server:
    """A served store holding a few blobs, and raw callables for every method and name."""

    def __init__(self, url: str, digests: list[bytes]) -> None:
        self.channel = grpc.insecure_channel(url.removeprefix("grpc+http://"))
        self.digests = digests
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def stat(self, service: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
        return self.channel.unary_unary(method_path(service, "Stat"), None, None)

    def read(self, service: str) -> grpc.UnaryStreamMultiCallable[bytes, bytes]:
        return self.channel.unary_stream(method_path(service, "Read"), None, None)

    def put(self, service: str) -> grpc.StreamUnaryMultiCallable[bytes, bytes]:
        return self.channel.stream_unary(method_path(service, "Put"), None, None)

    def assert_serving(self) -> None:
        answer = self._health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    store: ChunkedStore = small_chunk_memory_store()
    digests = [store.put(b""), store.put(b"small"), store.put(os.urandom(300_000))]
    limits = ServerLimits(max_blob_size=MAX_BLOB)
    with serve_in_thread(store, limits=limits) as url:
        served = Server(url, digests)
        yield served
        served.channel.close()


def code_of(call: object) -> grpc.StatusCode:
    """The status a call ends with (draining a response stream)."""
    try:
        if callable(call):
            result = call()
            if isinstance(result, Iterator):
                for _ in result:
                    pass
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# -- hand-made protobuf ------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, data: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(data)) + data


U64 = st.one_of(
    st.integers(0, 300),
    st.sampled_from([255, 2**31, 2**32 - 1, 2**63, 2**64 - 1]),
    st.integers(0, 2**64 - 1),
)


@st.composite
def stat_requests(draw: st.DrawFn, digests: list[bytes]) -> bytes:
    """A StatBlobRequest with every field hostile in some way (or absent)."""
    digest = draw(
        st.one_of(st.sampled_from(digests), st.binary(max_size=64), st.just(b"\x00" * 33))
    )
    parts = [field_bytes(1, digest)]
    for number in (2, 3):  # send_chunks, send_bao: bools with any varint value
        if draw(st.booleans()):
            parts.append(field_varint(number, draw(U64)))
    for number in (4, 5, 6):  # bao_shift (uint32), bao_format (enum), inline_limit (uint64)
        if draw(st.booleans()):
            parts.append(field_varint(number, draw(U64)))
    if draw(st.booleans()):
        parts.append(field_bytes(draw(st.integers(7, 100)), draw(st.binary(max_size=16))))
    order = draw(st.permutations(parts))
    return b"".join(order)


# -- fuzzing -----------------------------------------------------------------------------------


@FUZZ
@given(raw=st.binary(max_size=300), service=st.sampled_from(SERVICE_NAMES))
def test_random_bytes_to_every_method(server: Server, raw: bytes, service: str) -> None:
    for call in (
        lambda: server.stat(service)(raw, timeout=30),
        lambda: server.read(service)(raw, timeout=30),
        lambda: server.put(service)(iter([raw]), timeout=30),
        lambda: server.put(service)(iter([raw, raw]), timeout=30),
    ):
        assert code_of(call) in CLEAR_CODES
    server.assert_serving()


@FUZZ
@given(data=st.data(), service=st.sampled_from(SERVICE_NAMES))
def test_hostile_stat_requests(server: Server, data: st.DataObject, service: str) -> None:
    request = data.draw(stat_requests(server.digests))
    assert code_of(lambda: server.stat(service)(request, timeout=30)) in CLEAR_CODES
    server.assert_serving()


@FUZZ
@given(digest=st.binary(max_size=100), service=st.sampled_from(SERVICE_NAMES))
def test_read_with_any_digest(server: Server, digest: bytes, service: str) -> None:
    code = code_of(lambda: server.read(service)(field_bytes(1, digest), timeout=30))
    expected = grpc.StatusCode.NOT_FOUND if len(digest) == 32 else grpc.StatusCode.INVALID_ARGUMENT
    assert code == expected
    server.assert_serving()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (field_varint(4, 255), grpc.StatusCode.INVALID_ARGUMENT),  # shift 255
        (field_varint(4, 2**32 - 1), grpc.StatusCode.INVALID_ARGUMENT),
        (field_varint(5, 7), grpc.StatusCode.INVALID_ARGUMENT),  # unknown bao format
        (field_varint(5, 2**64 - 1), grpc.StatusCode.INVALID_ARGUMENT),  # enum -1
        (field_varint(6, 2**64 - 1), grpc.StatusCode.OK),  # inline limit: capped, not trusted
        (b"\x08" + b"\xff" * 10 + b"\x01", grpc.StatusCode.INVALID_ARGUMENT),  # 11-byte varint
        (field_bytes(1, b"x")[:-1] + varint(2**40), grpc.StatusCode.INVALID_ARGUMENT),  # length
    ],
)
def test_absurd_stat_fields(server: Server, fields: bytes, code: grpc.StatusCode) -> None:
    request = field_bytes(1, server.digests[2]) + fields + field_varint(3, 1)
    assert code_of(lambda: server.stat(SERVICE_NAMES[0])(request, timeout=30)) == code
    server.assert_serving()


def test_inline_limit_of_2_64_minus_1_inlines_small_blobs_only(server: Server) -> None:
    for digest, inlined in ((server.digests[1], True), (server.digests[2], False)):
        request = field_bytes(1, digest) + field_varint(6, 2**64 - 1)
        answer = server.stat(SERVICE_NAMES[0])(request, timeout=30)
        assert (field_bytes(7, b"small") in answer) is inlined


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_messages_over_4_mib_are_refused(server: Server, service: str) -> None:
    huge = field_bytes(1, bytes(4 * MIB + 1))
    assert code_of(lambda: server.stat(service)(huge, timeout=30)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert code_of(lambda: server.put(service)(iter([huge]), timeout=30)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    server.assert_serving()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_an_endless_put_stream_ends_at_the_max_blob_size(server: Server, service: str) -> None:
    message = field_bytes(1, bytes(MIB))
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield message

    assert code_of(lambda: server.put(service)(endless(), timeout=60)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert sent < 64  # stopped near the limit, not after the client gave up
    server.assert_serving()


def test_a_put_of_hand_made_messages_stores_their_bytes(server: Server) -> None:
    pieces = [b"abc", b"", b"defg" * 1000]
    reply = server.put(SERVICE_NAMES[1])(iter(field_bytes(1, p) for p in pieces), timeout=30)
    assert reply == field_bytes(1, bao.hash(b"".join(pieces)))
