"""The server adapter: status codes, Stat fitting under the message limit, inline data, Read
message sizes, Put aborts, health and reflection."""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.convert import fit_stat, stat_to_response
from baostore.grpc.services import DATA_MESSAGE_SIZE, MAX_INLINE_SIZE, SERVICE_NAMES
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc
from baostore.store.interface import ChunkMeta, Stat
from blake3 import blake3
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import RecordingStore, small_chunk_memory_store


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(2_500_000)


@pytest.fixture(scope="module")
def served(blob: bytes) -> Iterator[tuple[str, bytes]]:
    store = small_chunk_memory_store()
    digest = store.put(blob)
    with serve_in_thread(store) as url:
        yield url, digest


@pytest.fixture
def stub(served: tuple[str, bytes]) -> Iterator[blobstore_pb2_grpc.BlobServiceStub]:
    channel = grpc.insecure_channel(served[0].removeprefix("grpc+http://"))
    yield blobstore_pb2_grpc.BlobServiceStub(channel)
    channel.close()


def status_of(call: object) -> grpc.StatusCode:
    assert isinstance(call, grpc.RpcError)
    return call.code()


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"digest": b"\x01" * 32}, grpc.StatusCode.NOT_FOUND),
        ({"digest": b"\x01" * 31}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"digest": b""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"bao_shift": bao.MAX_SHIFT + 1}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"bao_shift": 255}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"bao_format": 7}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"range": {"start": 10, "end": 10}}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"range": {"start": 10, "end": 5}}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"range": {"start": 1 << 40}}, grpc.StatusCode.INVALID_ARGUMENT),
        (
            {"range": {"start": (1 << 64) - 1, "end": (1 << 64) - 1}},
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            {"range": {"start": (1 << 64) - 2, "end": (1 << 64) - 1}},
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
def test_stat_status_codes(
    stub: blobstore_pb2_grpc.BlobServiceStub,
    served: tuple[str, bytes],
    request_fields: dict[str, object],
    code: grpc.StatusCode,
) -> None:
    fields: dict[str, object] = {"digest": served[1], **request_fields}
    with pytest.raises(grpc.RpcError) as error:
        stub.Stat(blobstore_pb2.StatBlobRequest(**fields), timeout=10)  # type: ignore[arg-type]
    assert status_of(error.value) == code


def test_a_ranged_stat_answers_a_window_a_plain_one_the_whole_blob(
    stub: blobstore_pb2_grpc.BlobServiceStub, served: tuple[str, bytes], blob: bytes
) -> None:
    digest = served[1]
    plain = stub.Stat(blobstore_pb2.StatBlobRequest(digest=digest, send_bao=True), timeout=10)
    assert not plain.HasField("window") and plain.bao == bao.outboard(blob, 4)[1]
    ranged = stub.Stat(
        blobstore_pb2.StatBlobRequest(
            digest=digest,
            send_bao=True,
            send_chunks=True,
            range=blobstore_pb2.ByteRange(start=20_000, end=20_001),
        ),
        timeout=10,
    )
    assert (ranged.window.start, ranged.window.end) == (16 << 10, 32 << 10)
    assert ranged.bao == bao.window_proof(plain.bao, len(blob), 4, "pre_order", 16 << 10, 32 << 10)
    assert ranged.chunks_offset <= 16 << 10 and ranged.chunking.avg > 0


@pytest.mark.parametrize(
    ("digest", "code"),
    [(b"\x01" * 32, grpc.StatusCode.NOT_FOUND), (b"\x01" * 33, grpc.StatusCode.INVALID_ARGUMENT)],
)
def test_read_status_codes(
    stub: blobstore_pb2_grpc.BlobServiceStub, digest: bytes, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        list(stub.Read(blobstore_pb2.ReadBlobRequest(digest=digest), timeout=10))
    assert status_of(error.value) == code


def test_read_streams_bounded_messages_of_blob_and_chunks(
    stub: blobstore_pb2_grpc.BlobServiceStub, served: tuple[str, bytes], blob: bytes
) -> None:
    messages = list(stub.Read(blobstore_pb2.ReadBlobRequest(digest=served[1]), timeout=10))
    assert b"".join(message.data for message in messages) == blob
    assert max(len(message.data) for message in messages) <= DATA_MESSAGE_SIZE
    assert len(messages) >= len(blob) // DATA_MESSAGE_SIZE

    stat = stub.Stat(blobstore_pb2.StatBlobRequest(digest=served[1], send_chunks=True), timeout=10)
    assert len(stat.chunks) > 1
    offset = 0
    for chunk in stat.chunks:
        request = blobstore_pb2.ReadBlobRequest(digest=chunk.digest)
        data = b"".join(message.data for message in stub.Read(request, timeout=10))
        assert data == blob[offset : offset + chunk.size]
        offset += chunk.size
    assert offset == len(blob)


def test_stat_inline_up_to_the_limit(stub: blobstore_pb2_grpc.BlobServiceStub) -> None:
    store_url_digest = blake3(b"\x00\x01").digest()
    put = stub.Put(iter([blobstore_pb2.BlobChunk(data=b"\x00\x01")]), timeout=10)
    assert put.digest == store_url_digest
    inline = stub.Stat(blobstore_pb2.StatBlobRequest(digest=put.digest, inline_limit=2), timeout=10)
    assert inline.HasField("inline_data") and inline.inline_data == b"\x00\x01"
    too_small = stub.Stat(
        blobstore_pb2.StatBlobRequest(digest=put.digest, inline_limit=1), timeout=10
    )
    assert not too_small.HasField("inline_data")


def test_inline_is_capped_whatever_the_client_asks(
    stub: blobstore_pb2_grpc.BlobServiceStub, served: tuple[str, bytes], blob: bytes
) -> None:
    assert len(blob) > MAX_INLINE_SIZE
    request = blobstore_pb2.StatBlobRequest(digest=served[1], inline_limit=2**64 - 1)
    assert not stub.Stat(request, timeout=10).HasField("inline_data")


def test_stat_coarsens_the_bao_to_fit_the_message_limit(blob: bytes) -> None:
    """A shift-0 bao of 2.5 MB data is 156 KB; with a 40 KB limit the server must coarsen."""
    limit = 40_000
    store = small_chunk_memory_store()
    digest = store.put(blob)
    with serve_in_thread(store, stat_limit=limit) as url, GrpcBlobStore.from_url(url) as client:
        for bao_format in ("pre_order", "leaves"):
            stat = client.stat(digest, bao_shift=0, bao_format=bao_format)
            assert stat is not None
            assert stat.bao_shift > 0
            assert stat.chunks  # coarsening the bao was enough; the chunk list stays
            assert stat_to_response(stat).ByteSize() < limit
            # The bao is exactly the one at the shift the server says it used, and it verifies.
            expected = bao.outboard(blob, shift=stat.bao_shift, format=bao_format)[1]
            assert stat.bao == expected
            verifier = bao.Verifier(
                digest, len(blob), stat.bao, shift=stat.bao_shift, format=bao_format
            )
            assert verifier.update(blob) + verifier.finalize() == blob
            # The finest shift that fits was chosen: one finer would not have.
            finer = bao.outboard_size(len(blob), stat.bao_shift - 1, bao_format)
            assert finer + stat_to_response(stat).ByteSize() - len(stat.bao) >= limit - 16


def test_fit_drops_inline_first_then_chunks_when_they_cannot_fit() -> None:
    data = os.urandom(200_000)
    _, outboard = bao.outboard(data, shift=0)
    chunks = tuple(ChunkMeta(os.urandom(32), 10) for _ in range(2_000))
    stat = Stat(size=len(data), chunks=chunks, bao=outboard, bao_shift=0, inline=data)

    assert fit_stat(stat, limit=1 << 22) == stat  # all fits: untouched
    # inline 200 KB + chunk list 76 KB + shift-0 bao 12.5 KB: without the inline data it fits.
    without_inline = fit_stat(stat, limit=250_000)
    assert without_inline.inline is None and without_inline.bao == outboard

    no_chunks = fit_stat(stat, limit=50_000)
    assert no_chunks.chunks == () and no_chunks.inline is None
    assert no_chunks.bao_shift == 0  # without the chunks the shift-0 bao (12 KB) fits
    assert stat_to_response(no_chunks).ByteSize() < 50_000


def test_put_abort_reaches_the_store_writer(blob: bytes) -> None:
    store = RecordingStore(small_chunk_memory_store())
    with serve_in_thread(store) as url, GrpcBlobStore.from_url(url) as client:
        writer = client.open_write()
        writer.write(blob)
        # Only a call the server has started has a store writer to abort.
        assert store.written.wait(timeout=30)
        writer.abort()
        assert store.aborted.wait(timeout=30)
        assert not client.has(blake3(blob).digest())


def test_health_reports_serving(served: tuple[str, bytes]) -> None:
    with grpc.insecure_channel(served[0].removeprefix("grpc+http://")) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", *SERVICE_NAMES):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_describes_all_three_service_names(served: tuple[str, bytes]) -> None:
    with grpc.insecure_channel(served[0].removeprefix("grpc+http://")) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert set(SERVICE_NAMES) <= set(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        for name in SERVICE_NAMES:
            service = pool.FindServiceByName(name)
            stat = service.FindMethodByName("Stat")
            assert stat.input_type.full_name == "baostore.v1.StatBlobRequest"
            assert stat.output_type.fields_by_name["bao_shift"].number == 4


def test_an_abandoned_put_is_discarded_not_stored() -> None:
    store = RecordingStore(small_chunk_memory_store())
    with serve_in_thread(store) as url, GrpcBlobStore.from_url(url) as client:
        client.idle_timeout = 0.5
        writer = client.open_write()
        writer.write(b"x" * DATA_MESSAGE_SIZE)  # sent, then neither close() nor abort()
        assert store.aborted.wait(timeout=30)
        assert not client.has(blake3(b"x" * DATA_MESSAGE_SIZE).digest())
