"""A server that sends every byte of a Read but never ends the call: the verified reader hands the
bytes on once they verified and ends the call itself, instead of handing on nothing and failing
when the idle timeout runs out."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from baostore import metrics
from baostore.grpc.client import GrpcBlobStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore
from baostore.verify import VerifiedReader

from tests.adversarial.conftest import small_chunk_store
from tests.support.grpc_server import serve_in_thread

BLOB = os.urandom(300_000)
# Far below the client's idle timeout: a reader that waits for the server to end its Reads
# has handed on nothing by then.
READ_WITHIN = 20.0
IDLE_TIMEOUT = 60.0


class NeverEndingReads(ForwardingStore):
    """``inner``, except that every Read, having sent all of its bytes, never ends (until
    ``release``); ``ended`` counts the Reads whose call ended (the client cancelled them)."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__(inner)
        self.release = threading.Event()
        self.ended = 0
        self._lock = threading.Lock()

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        pieces = self.inner.read_raw(digest)
        return None if pieces is None else self._then_hang(pieces)

    def _then_hang(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from pieces
            self.release.wait(2 * IDLE_TIMEOUT)
        finally:
            with self._lock:
                self.ended += 1


def _read_from(client: GrpcBlobStore, digest: bytes, start: int) -> bytes:
    reader = client.open_read(digest)
    assert isinstance(reader, VerifiedReader)
    with reader:
        reader.seek(start)
        return reader.read()


@pytest.mark.parametrize(
    "start", [0, 100_000], ids=["one Read of the whole blob", "a Read per chunk after a seek"]
)
def test_a_read_that_sent_everything_is_handed_on_without_waiting_for_its_end(start: int) -> None:
    store = NeverEndingReads(small_chunk_store())
    digest = store.put(BLOB)
    got: list[bytes] = []
    failed: list[BaseException] = []
    with serve_in_thread(store) as url:
        client = GrpcBlobStore.from_url(url, idle_timeout=IDLE_TIMEOUT)

        def read() -> None:
            try:
                got.append(_read_from(client, digest, start))
            except BaseException as error:
                failed.append(error)

        reads_served = metrics.IN_FLIGHT.labels("Read")
        before = reads_served._value.get()
        reading = threading.Thread(target=read, daemon=True)
        try:
            reading.start()
            reading.join(READ_WITHIN)
            assert not reading.is_alive(), "the reader waited for Reads the server never ends"
            assert not failed, failed
            assert got == [BLOB[start:]]
            # Every Read the client started was ended, by the client (the server never ends
            # them: their stores still hang): the server counts none in flight any more.
            deadline = time.monotonic() + READ_WITHIN
            while reads_served._value.get() > before and time.monotonic() < deadline:
                time.sleep(0.01)
            assert reads_served._value.get() == before
            assert store.ended == 0
        finally:
            store.release.set()
            client.close()
            reading.join(READ_WITHIN)
