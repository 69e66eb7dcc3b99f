"""A server that keeps a Read alive without sending data (empty messages, forever) must not hang
the client: only data counts as progress, so the idle timeout ends the Read. What verified before
is a true prefix."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.proto import blobstore_pb2
from baostore.store.interface import StoreError

from tests.adversarial.conftest import small_chunk_store
from tests.support.hostile_server import honest_stat, hostile_server

BLOB = os.urandom(300_000)
IDLE_TIMEOUT = 0.3
PIECE = 10_000
# Where the Read stops sending data and sends only empty messages from then on.
Cut = Callable[[int], int]


@contextmanager
def empty_message_server(cut: Cut) -> Iterator[str]:
    """Honest Stat; a Read sends the first ``cut(size)`` bytes, then empty messages forever."""
    honest = small_chunk_store()
    honest.put(BLOB)

    def read(
        request: blobstore_pb2.ReadBlobRequest, context: grpc.ServicerContext
    ) -> Iterator[blobstore_pb2.BlobChunk]:
        pieces = honest.read_raw(request.digest)
        assert pieces is not None
        data = b"".join(pieces)
        data = data[: cut(len(data))]
        for start in range(0, len(data), PIECE):
            yield blobstore_pb2.BlobChunk(data=data[start : start + PIECE])
        while context.is_active():
            yield blobstore_pb2.BlobChunk()
            time.sleep(0.002)

    with hostile_server(stat=honest_stat(honest), read=read) as url:
        yield url


@pytest.mark.timeout(30)  # a hang fails here instead of blocking the suite
@pytest.mark.parametrize(
    "cut",
    [lambda size: 0, lambda size: size // 2, lambda size: size],
    ids=["no data at all", "half the data", "all the data, then no end"],
)
@pytest.mark.parametrize("start", [0, 200_000], ids=["whole blob", "after a seek"])
def test_endless_empty_messages_end_in_a_timeout(cut: Cut, start: int) -> None:
    with empty_message_server(cut) as url, GrpcBlobStore.from_url(url) as client:
        client.idle_timeout = IDLE_TIMEOUT
        reader = client.open_read(bao.hash(BLOB))
        assert reader is not None
        handed_on = bytearray()
        reader.seek(start)
        with reader, pytest.raises(StoreError, match="stalled"):
            while piece := reader.read(50_000):
                handed_on += piece
        assert bytes(handed_on) == BLOB[start : start + len(handed_on)]
