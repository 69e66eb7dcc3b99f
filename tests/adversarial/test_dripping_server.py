"""A server that drips: a byte every 0.2 s is never idle, yet 100 KB would take hours. A client
counts it as stalled once a window of waiting brought less than its minimum rate; substituters
then fail over to the next member, and a Put the server takes too slowly fails the same way.

Every dripping handler runs out after a while (20 s) and sends the rest at full speed: a client
without a minimum rate gets all the data, slowly, so these tests fail (rather than hang) where
the rate is not enforced."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_OK
from baostore.compose.substituters import SubstitutersStore
from baostore.errors import StalledError
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.rate import MinimumRate
from baostore.proto import blobstore_pb2
from baostore.sizes import MiB

from tests.adversarial.conftest import small_chunk_store
from tests.support.grpc_server import serve_in_thread
from tests.support.hostile_server import honest_stat, hostile_server

BLOB = os.urandom(300_000)
DRIP_SECONDS = 0.2
MAX_DRIPS = 100  # 20 s: far beyond the minimum rate's window below
# At least 1 KiB in every second of waiting: a drip of 5 bytes a second is far below.
MIN_RATE = MinimumRate(1024, 1.0)


@pytest.fixture(scope="module")
def honest() -> Iterator[tuple[str, bytes]]:
    """An honest server holding BLOB: its URL and BLOB's digest."""
    store = small_chunk_store()
    digest = store.put(BLOB)
    with serve_in_thread(store) as url:
        yield url, digest


@pytest.fixture(scope="module")
def dripping() -> Iterator[str]:
    """A server that answers Stat honestly and drips every Read, a byte at a time."""
    store = small_chunk_store()
    store.put(BLOB)

    def read(
        request: blobstore_pb2.ReadBlobRequest, context: grpc.ServicerContext
    ) -> Iterator[blobstore_pb2.BlobChunk]:
        data = b"".join(store.read_raw(request.digest) or ())
        for index in range(min(len(data), MAX_DRIPS)):
            if not context.is_active():
                return
            yield blobstore_pb2.BlobChunk(data=data[index : index + 1])
            time.sleep(DRIP_SECONDS)
        yield blobstore_pb2.BlobChunk(data=data[MAX_DRIPS:])  # the drip ran out

    with hostile_server(stat=honest_stat(store), read=read) as url:
        yield url


def test_a_dripping_read_is_too_slow(dripping: str) -> None:
    received = bytearray()
    with GrpcBlobStore.from_url(dripping, min_rate=MIN_RATE) as client:
        pieces = client.read_raw(bao.hash(BLOB))
        assert pieces is not None
        with pytest.raises(StalledError, match="too slow") as stalled:
            for piece in pieces:
                received += piece
    assert "stalled" in str(stalled.value)
    assert bytes(received) == BLOB[: len(received)] and len(received) < MAX_DRIPS


def test_substituters_fail_over_from_a_dripping_member(
    dripping: str, honest: tuple[str, bytes]
) -> None:
    url, digest = honest
    members = {
        "dripping": GrpcBlobStore.from_url(dripping, min_rate=MIN_RATE),
        "honest": GrpcBlobStore.from_url(url, min_rate=MIN_RATE),
    }
    store = SubstitutersStore(members)
    with store:
        reader = store.open_read(digest)
        assert reader is not None
        with reader:
            assert reader.read() == BLOB
    assert store.failures == {"dripping": 1, "honest": 0}


def test_get_fails_over_from_a_member_slower_than_its_configured_rate(
    dripping: str, honest: tuple[str, bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, digest = honest
    config = tmp_path / "stores.toml"
    config.write_text(
        f'[stores.dripping]\nurl = "{dripping}"\nmin_rate = "1KiB/1s"\n'
        f'[stores.honest]\nurl = "{url}"\n'
        '[stores.root]\ntype = "substituters"\nmembers = ["dripping", "honest"]\n'
    )
    target = tmp_path / "out.bin"
    assert main(["get", digest.hex(), "--config", str(config), "-o", str(target)]) == EXIT_OK
    assert target.read_bytes() == BLOB
    assert any(
        "substituter dripping failed" in record.getMessage() and "too slow" in record.getMessage()
        for record in caplog.records
    )


def test_a_put_the_server_takes_too_slowly_stalls() -> None:
    def put(
        requests: Iterator[blobstore_pb2.BlobChunk], context: grpc.ServicerContext
    ) -> blobstore_pb2.PutBlobResponse:
        hasher = bao.Hasher()
        for taken, message in enumerate(requests):  # a message every half second (for 20 s)
            hasher.update(message.data)
            if taken < 40:
                time.sleep(0.5)
        return blobstore_pb2.PutBlobResponse(digest=hasher.digest())

    # The client's own minimum (32 MiB in each second of waiting) is far above what the server
    # takes, and above what gRPC buffers at once (6-9 MiB).
    with (
        hostile_server(put=put) as url,
        GrpcBlobStore.from_url(url, min_rate=MinimumRate(32 * MiB, 1.0)) as client,
        pytest.raises(StalledError, match="too slow"),
    ):
        client.put(bytes(64 * MiB))
