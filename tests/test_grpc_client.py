"""The gRPC client store: URLs, error mapping, the verified seekable reader, streamed put,
unix sockets and stalls."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore import bao
from baostore.errors import (
    DataLossError,
    InvalidDigestError,
    InvalidRequestError,
    NotFoundError,
    StalledError,
    StoreError,
    UnavailableError,
    VerificationError,
)
from baostore.grpc.client import GrpcBlobStore
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import ChunkMeta, Stat, StatRequest
from baostore.verify import ReadOptions, VerifiedReader
from blake3 import blake3

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import RecordingStore, small_chunk_memory_store


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(700_000)


@pytest.fixture(scope="module")
def served(blob: bytes) -> Iterator[tuple[GrpcBlobStore, bytes, ChunkedStore]]:
    store = small_chunk_memory_store()
    digest = store.put(blob)
    with serve_in_thread(store) as url, GrpcBlobStore.from_url(url) as client:
        yield client, digest, store


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("grpc+http://127.0.0.1:50051", "127.0.0.1:50051"),
        ("grpc+http://localhost:7/", "localhost:7"),
        ("grpc+http://[::1]:50051", "[::1]:50051"),
        ("grpc+unix:///run/baostore.sock", "unix:///run/baostore.sock"),
    ],
)
def test_from_url(url: str, target: str) -> None:
    with GrpcBlobStore.from_url(url) as store:
        assert store.target == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("grpc+https://example.org:443?cert=/c.pem", "both cert= and key="),
        ("grpc+http://127.0.0.1:1?ca=/ca.pem", "unknown option .ca."),
        ("grpc+http://127.0.0.1", "HOST:PORT"),
        ("grpc+http://127.0.0.1:1/prefix", "no path"),
        ("grpc+http://127.0.0.1:1?timeout=3", "unknown option .timeout."),
        ("grpc+http://127.0.0.1:1?bao_shift=3&bao_shift=4", "once each"),
        ("grpc+http://127.0.0.1:1?bao_shift=33", "bao_shift must be in 0..32"),
        ("grpc+http://127.0.0.1:1?bao_shift=-1", "bao_shift must be in 0..32"),
        ("grpc+http://127.0.0.1:1?bao_format=post_order", "bao_format must be one of"),
        ("grpc+http://user@127.0.0.1:1", "no fragment or user"),
        ("grpc+unix://host/run/x.sock", "three slashes"),
        ("grpc+unix:///", "ABSOLUTE/PATH"),
        ("http://127.0.0.1:1", "not a gRPC store URL"),
    ],
)
def test_from_url_rejects(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GrpcBlobStore.from_url(url)


def test_url_sets_the_bao_of_verified_reads() -> None:
    with GrpcBlobStore.from_url("grpc+http://127.0.0.1:1?bao_shift=2&bao_format=leaves") as store:
        assert store.read_options == ReadOptions(bao_shift=2, bao_format="leaves")
    with GrpcBlobStore.from_url("grpc+unix:///run/x.sock?bao_shift=0") as store:
        assert store.read_options == ReadOptions(bao_shift=0)
    with GrpcBlobStore.from_url("grpc+http://127.0.0.1:1") as store:
        assert store.read_options == ReadOptions()


def test_has_stat_and_missing(served: tuple[GrpcBlobStore, bytes, ChunkedStore]) -> None:
    client, digest, _ = served
    assert client.has(digest)
    assert not client.has(b"\x02" * 32)
    assert client.stat(b"\x02" * 32) is None
    assert client.open_read(b"\x02" * 32) is None
    assert client.read_raw(b"\x02" * 32) is None


def test_bad_arguments_fail_before_the_call(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore],
) -> None:
    client, digest, _ = served
    with pytest.raises(InvalidDigestError):
        client.has(b"\x02" * 31)
    with pytest.raises(ValueError, match="bao_shift"):
        client.stat(digest, bao_shift=33)
    with pytest.raises(ValueError, match="bao_format"):
        client.stat(digest, bao_format="post_order")  # type: ignore[arg-type]


class FailingStore(RecordingStore):
    """Fails every Stat with ``error``, as a store with that trouble would."""

    def __init__(self, error: Exception) -> None:
        super().__init__(small_chunk_memory_store())
        self.error = error

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        raise self.error


@pytest.mark.parametrize(
    ("raised", "received"),
    [
        (InvalidDigestError("this store rejects every digest"), InvalidRequestError),
        (InvalidRequestError("no such option here"), InvalidRequestError),
        (UnavailableError("the far store is down"), UnavailableError),
        (StalledError("the far store stopped sending"), StalledError),
        (DataLossError("a record is damaged"), DataLossError),
        # A proxy whose far store lied: to its client that is data it could not deliver.
        (VerificationError("far sent a bad chunk"), DataLossError),
        (StoreError("the disk is full"), StoreError),
        # A store's own ValueError is its failure, not the client's: never INVALID_ARGUMENT.
        (ValueError("a bug in the store"), StoreError),
        (RuntimeError("another bug"), StoreError),
    ],
)
def test_a_store_error_keeps_its_kind_across_the_wire(
    raised: Exception, received: type[StoreError]
) -> None:
    with (
        serve_in_thread(FailingStore(raised)) as url,
        GrpcBlobStore.from_url(url) as client,
        pytest.raises(StoreError) as error,
    ):
        client.stat(b"\x02" * 32)
    assert type(error.value) is received
    assert error.value.kind is received.kind
    # What the client asked wrong it is told; of the server's own trouble, the kind and an id.
    told = str(error.value)
    assert (str(raised) in told) is (received is InvalidRequestError)
    assert ("the server log has error id" in told) is (received is not InvalidRequestError)


def test_a_store_that_says_not_found_is_an_absent_blob() -> None:
    with (
        serve_in_thread(FailingStore(NotFoundError("gone since"))) as url,
        GrpcBlobStore.from_url(url) as client,
    ):
        assert client.stat(b"\x02" * 32) is None


def test_unreachable_server_is_a_clear_store_error() -> None:
    with serve_in_thread(small_chunk_memory_store()) as url:
        pass  # the port is free again once the server stopped
    with GrpcBlobStore.from_url(url) as client, pytest.raises(StoreError) as error:
        client.has(b"\x00" * 32)
    assert str(error.value).startswith(f"cannot reach server at {url}")


def test_put_streams_and_returns_the_digest(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore],
) -> None:
    client, _, store = served
    data = os.urandom(3 * 1024 * 1024 + 5)
    assert client.put(data) == blake3(data).digest()
    assert client.put(io.BytesIO(data[:1000])) == blake3(data[:1000]).digest()
    assert client.put(b"") == blake3(b"").digest()
    assert store.has(blake3(data).digest())


def test_writer_refuses_use_after_close(served: tuple[GrpcBlobStore, bytes, ChunkedStore]) -> None:
    client, _, _ = served
    writer = client.open_write()
    writer.write(b"abc")
    assert writer.close() == blake3(b"abc").digest()
    with pytest.raises(ValueError, match="closed or aborted"):
        writer.write(b"more")


def test_reader_reads_across_chunks_and_seeks(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore], blob: bytes
) -> None:
    client, digest, _ = served
    stat = client.stat(digest, send_bao=False)
    assert stat is not None and len(stat.chunks) > 3
    reader = client.open_read(digest)
    assert isinstance(reader, VerifiedReader)
    with reader:
        assert reader.seekable() and reader.readable()
        assert reader.read(10) == blob[:10]
        boundary = stat.chunks[0].size + stat.chunks[1].size
        reader.seek(boundary - 5)
        assert reader.read(10) == blob[boundary - 5 : boundary + 5]  # spans two chunks
        reader.seek(100)  # backwards within a chunk already passed
        assert reader.tell() == 100
        assert reader.read(50) == blob[100:150]
        reader.seek(-20, io.SEEK_CUR)
        assert reader.read(20) == blob[130:150]
        assert reader.seek(-7, io.SEEK_END) == len(blob) - 7
        assert reader.read() == blob[-7:]
        assert reader.read() == b""
        reader.seek(len(blob) + 100)  # past the end: reads nothing, as a file does
        assert reader.read(10) == b""
        reader.seek(0)
        assert reader.read() == blob
        with pytest.raises(ValueError):
            reader.seek(-1)
    with pytest.raises(ValueError):
        reader.read(1)


def test_small_blob_comes_inline(served: tuple[GrpcBlobStore, bytes, ChunkedStore]) -> None:
    client, _, _ = served
    data = os.urandom(10_000)
    digest = client.put(data)
    reader = client.open_read(digest)
    assert isinstance(reader, VerifiedReader) and reader.layout.inline is not None
    assert reader.read() == data
    assert reader.stats.chunks_fetched == 0  # the Stat answer was the only round trip


@pytest.mark.parametrize(("shift", "bao_format"), [(0, "leaves"), (2, "pre_order"), (6, "leaves")])
def test_reads_verify_at_the_shift_and_format_asked_for(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore], blob: bytes, shift: int, bao_format: str
) -> None:
    served_client, digest, _ = served
    url = f"{served_client.display}?bao_shift={shift}&bao_format={bao_format}"
    with GrpcBlobStore.from_url(url) as client:
        reader = client.open_read(digest)
        assert isinstance(reader, VerifiedReader)
        assert (reader.layout.bao_shift, reader.layout.bao_format) == (shift, bao_format)
        assert reader.read() == blob


def test_a_small_answer_limit_shortens_windows_never_the_shift(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore], blob: bytes
) -> None:
    _, digest, store = served
    # A small Stat limit makes the server answer shorter windows at the asked shift 0.
    with (
        serve_in_thread(store, stat_limit=8 << 10) as url,
        GrpcBlobStore.from_url(f"{url}?bao_shift=0") as client,
    ):
        reader = client.open_read(digest)
        assert isinstance(reader, VerifiedReader)
        assert reader.layout.bao_shift == 0
        assert reader.read() == blob
        # A window answer of at most 8 KiB holds the proof of at most 128 groups of 1 KiB.
        assert reader.stats.windows_fetched >= len(blob) // ((8 << 10) // 64 * 1024)


def test_a_whole_stat_is_coarsened_to_fit(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore], blob: bytes
) -> None:
    _, digest, store = served
    # Without a range (as Tvix/Snix ask), a small Stat limit coarsens the shift-0 bao.
    with serve_in_thread(store, stat_limit=8 << 10) as url, GrpcBlobStore.from_url(url) as client:
        stat = client.stat(digest, bao_shift=0)
        assert stat is not None and stat.window is None and stat.bao_shift > 0
        assert len(stat.bao) == bao.outboard_size(len(blob), stat.bao_shift)


def store_chunks(store: GrpcBlobStore, digest: bytes) -> tuple[ChunkMeta, ...]:
    chunks = store.chunks(digest)
    assert chunks is not None
    return chunks


def test_chunks_already_in_the_cache_are_not_fetched(
    served: tuple[GrpcBlobStore, bytes, ChunkedStore], blob: bytes
) -> None:
    served_client, digest, _ = served
    with GrpcBlobStore.from_url(served_client.display) as client:
        client.cache = small_chunk_memory_store()
        first = client.open_read(digest)
        assert isinstance(first, VerifiedReader) and first.read() == blob
        assert first.stats.chunks_fetched == len(store_chunks(served_client, digest)) > 1
        second = client.open_read(digest)
        assert isinstance(second, VerifiedReader) and second.read() == blob
        assert second.stats.chunks_fetched == 0


def test_unix_socket(tmp_path: Path, blob: bytes) -> None:
    socket = tmp_path / "baostore.sock"
    with serve_in_thread(small_chunk_memory_store(), listen=f"unix:{socket}") as url:
        assert url == f"grpc+unix://{socket}"
        with GrpcBlobStore.from_url(url) as client:
            digest = client.put(blob)
            reader = client.open_read(digest)
            assert reader is not None and reader.read() == blob


class StallingStore(RecordingStore):
    """Its reads never produce a byte until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(small_chunk_memory_store())
        self.release = threading.Event()

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        def stall() -> Iterator[bytes]:
            self.release.wait(timeout=30)
            yield b"late"

        return stall()


def test_a_stalled_read_ends_in_a_timeout() -> None:
    store = StallingStore()
    with serve_in_thread(store) as url:
        try:
            with GrpcBlobStore.from_url(url) as client:
                client.idle_timeout = 0.5
                with pytest.raises(StoreError, match="stalled"):
                    client.read_raw(b"\x03" * 32)
        finally:
            store.release.set()  # lets the server's worker thread finish before shutdown
