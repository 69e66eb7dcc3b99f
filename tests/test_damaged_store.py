"""A server over a store whose chunk files were damaged on disk: clients that verify nothing
(Tvix and Snix castore clients) must not receive the damage as data. The server checks each chunk
against its digest as it reads it, answers DATA_LOSS and logs it."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from baostore.errors import DataLossError
from baostore.grpc.services import SERVICE_NAMES, TVIX_SERVICE, method_path
from baostore.open import open_store
from baostore.proto import blobstore_pb2
from baostore.store.chunked import ChunkedStore, chunk_key
from baostore.store.interface import ByteRange

from tests.support.serve_process import serve_process

BLOB = os.urandom(3 << 20)  # several chunks at the default sizes
DAMAGED = 2  # the chunk whose file gets a flipped byte


@pytest.fixture
def damaged_store(tmp_path: Path) -> tuple[str, bytes, int, bytes]:
    """A file store holding BLOB with one flipped byte in chunk DAMAGED's file: its URL, the
    blob's digest, the damaged chunk's offset in the blob and its digest."""
    url = (tmp_path / "store").as_uri()
    with open_store(url) as store:
        assert isinstance(store, ChunkedStore)
        digest = store.put(BLOB)
        chunks = store.chunks(digest)
    assert chunks is not None and len(chunks) > DAMAGED
    damaged = chunks[DAMAGED]
    path = tmp_path / "store" / chunk_key(damaged.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return url, digest, sum(chunk.size for chunk in chunks[:DAMAGED]), damaged.digest


def read_raw(address: str, service: str, digest: bytes) -> tuple[bytes, grpc.RpcError | None]:
    """What a client that verifies nothing gets from a Read: the bytes and how the call ended."""
    received = bytearray()
    with grpc.insecure_channel(address) as channel:
        read = channel.unary_stream(
            method_path(service, "Read"),
            request_serializer=blobstore_pb2.ReadBlobRequest.SerializeToString,
            response_deserializer=blobstore_pb2.BlobChunk.FromString,
        )
        messages = read(blobstore_pb2.ReadBlobRequest(digest=digest), timeout=60)
        try:
            for message in messages:
                received += message.data
        except grpc.RpcError as error:
            return bytes(received), error
    return bytes(received), None


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_damaged_chunk_is_data_loss_not_data(
    damaged_store: tuple[str, bytes, int, bytes], service: str
) -> None:
    url, digest, offset, chunk = damaged_store
    lines: list[str] = []
    with serve_process(url, log=lines) as (_, address):
        whole, whole_error = read_raw(address, service, digest)
        alone, alone_error = read_raw(address, service, chunk)
    log = "".join(lines)
    for error in (whole_error, alone_error):
        assert error is not None and error.code() == grpc.StatusCode.DATA_LOSS
    assert len(whole) <= offset and whole == BLOB[: len(whole)]  # only the true chunks before
    assert alone == b""
    assert log.count(chunk.hex()) >= 2, log  # each damaged read is logged, naming the chunk


def test_the_intact_chunks_of_a_damaged_blob_still_read(
    damaged_store: tuple[str, bytes, int, bytes],
) -> None:
    url, digest, _, _ = damaged_store
    with open_store(url) as store:
        first = (store.chunks(digest) or ())[0]
    with serve_process(url) as (_, address):
        received, error = read_raw(address, TVIX_SERVICE, first.digest)
    assert error is None and received == BLOB[: first.size]


@pytest.mark.parametrize("ranged", [True, False])
def test_a_finer_stat_over_a_damaged_chunk_is_data_loss(
    damaged_store: tuple[str, bytes, int, bytes], ranged: bool
) -> None:
    # A Stat finer than the stored shift rehashes the chunks without checking each against its
    # digest first: the rehash itself is checked against the blob's digest.
    url, digest, offset, chunk = damaged_store
    with open_store(url) as store:
        size = next(meta.size for meta in store.chunks(digest) or () if meta.digest == chunk)
        flipped = offset + size // 2
        window = ByteRange(flipped, flipped + 1) if ranged else None
        with pytest.raises(DataLossError, match=digest.hex()):
            store.stat(digest, bao_shift=0, range=window)
        intact = store.stat(digest, bao_shift=0, range=ByteRange(0, 1024))
    assert intact is not None and intact.window == (0, 1024)
