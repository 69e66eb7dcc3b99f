"""Server limits: blob size, concurrent calls, idle Put and Read streams, message size."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from baostore.cli.main import build_parser
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.limits import MIN_MESSAGE_SIZE, ServerLimits
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc
from baostore.sizes import parse_size
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore, BlobWriter, StoreError

from tests.support.grpc_server import serve_in_thread
from tests.support.serve_process import serve_process
from tests.support.stores import RecordingStore, small_chunk_memory_store

MIB = 1 << 20


def stub_for(url: str) -> tuple[grpc.Channel, blobstore_pb2_grpc.BlobServiceStub]:
    channel = grpc.insecure_channel(url.removeprefix("grpc+http://"))
    return channel, blobstore_pb2_grpc.BlobServiceStub(channel)


def test_a_put_beyond_the_max_blob_size_is_refused_and_discarded() -> None:
    backing = small_chunk_memory_store()
    store = RecordingStore(backing)
    with serve_in_thread(store, limits=ServerLimits(max_blob_size=100_000)) as url:
        with GrpcBlobStore.from_url(url) as client:
            assert client.put(os.urandom(100_000))  # exactly the limit is fine
            with pytest.raises(StoreError, match="RESOURCE_EXHAUSTED"):
                client.put(os.urandom(100_001))
        assert store.aborted.wait(timeout=10)
    assert backing.object_counts().records == 1


def test_an_endless_put_stream_is_stopped_by_the_max_blob_size() -> None:
    def endless() -> Iterator[blobstore_pb2.BlobChunk]:
        message = blobstore_pb2.BlobChunk(data=bytes(MIB))
        while True:
            yield message

    limits = ServerLimits(max_blob_size=8 * MIB)
    with serve_in_thread(small_chunk_memory_store(), limits=limits) as url:
        channel, stub = stub_for(url)
        with channel, pytest.raises(grpc.RpcError) as failure:
            stub.Put(endless(), timeout=60)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_calls_beyond_max_concurrent_streams_are_refused() -> None:
    release = threading.Event()

    def held_open() -> Iterator[blobstore_pb2.BlobChunk]:
        yield blobstore_pb2.BlobChunk(data=b"x")
        release.wait(timeout=30)

    limits = ServerLimits(max_concurrent_streams=2)
    store = WriterCountingStore(small_chunk_memory_store())
    with serve_in_thread(store, limits=limits) as url:
        channel, stub = stub_for(url)
        with channel:
            held = [stub.Put.future(held_open(), timeout=60) for _ in range(2)]
            try:
                # Probing before both Puts run would race them: a Stat that gets in first takes
                # one of the two slots and the second Put is the call refused.
                store.wait_for_writers(2)
                refused = _first_refusal(stub)
            finally:
                release.set()
            assert all(call.result(timeout=30).digest for call in held)
            # Once the streams ended, calls are served again.
            with pytest.raises(grpc.RpcError) as absent:
                stub.Stat(blobstore_pb2.StatBlobRequest(digest=bytes(32)), timeout=10)
            assert absent.value.code() == grpc.StatusCode.NOT_FOUND
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED


class WriterCountingStore(ForwardingStore):
    """Counts the writers the server opened (one per Put that reached the store)."""

    def __init__(self, inner: BlobStore) -> None:
        super().__init__(inner)
        self._opened = 0
        self._changed = threading.Condition()

    def open_write(self) -> BlobWriter:
        with self._changed:
            self._opened += 1
            self._changed.notify_all()
        return super().open_write()

    def wait_for_writers(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._opened >= count, timeout=20)


def _first_refusal(stub: blobstore_pb2_grpc.BlobServiceStub) -> grpc.StatusCode:
    """Stat until the server refuses (the held streams need a moment to start)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            stub.Stat(blobstore_pb2.StatBlobRequest(digest=bytes(32)), timeout=10)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                return error.code()
        time.sleep(0.05)
    raise AssertionError("the server never refused a call")


def test_puts_beyond_max_concurrent_puts_wait_their_turn() -> None:
    release = threading.Event()

    def held_open() -> Iterator[blobstore_pb2.BlobChunk]:
        yield blobstore_pb2.BlobChunk(data=bytes(MIB))  # a full batch: written at once
        release.wait(timeout=30)

    store = RecordingStore(small_chunk_memory_store())
    with serve_in_thread(store, limits=ServerLimits(max_concurrent_puts=1)) as url:
        channel, stub = stub_for(url)
        with channel:
            first = stub.Put.future(held_open(), timeout=60)
            assert store.written.wait(timeout=30)  # the first Put holds the only slot
            second = stub.Put.future(iter([blobstore_pb2.BlobChunk(data=b"second")]), timeout=60)
            time.sleep(1.0)
            waited = not second.done()
            release.set()
            assert first.result(timeout=30).digest and second.result(timeout=30).digest
    assert waited


def test_an_idle_put_stream_is_cancelled() -> None:
    stop = threading.Event()

    def stalls() -> Iterator[blobstore_pb2.BlobChunk]:
        yield blobstore_pb2.BlobChunk(data=b"started")
        stop.wait(timeout=30)

    store = RecordingStore(small_chunk_memory_store())
    with serve_in_thread(store, limits=ServerLimits(idle_timeout=0.5)) as url:
        channel, stub = stub_for(url)
        try:
            with channel, pytest.raises(grpc.RpcError) as failure:
                stub.Put(stalls(), timeout=30)
        finally:
            stop.set()
        assert store.aborted.wait(timeout=10)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "idle" in (failure.value.details() or "")


def test_a_put_stream_of_empty_messages_counts_as_idle() -> None:
    def empty_forever() -> Iterator[blobstore_pb2.BlobChunk]:
        while True:
            yield blobstore_pb2.BlobChunk()
            time.sleep(0.01)

    with serve_in_thread(small_chunk_memory_store(), limits=ServerLimits(idle_timeout=0.5)) as url:
        channel, stub = stub_for(url)
        with channel, pytest.raises(grpc.RpcError) as failure:
            stub.Put(empty_forever(), timeout=30)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_read_stream_nobody_takes_is_cancelled() -> None:
    backing = small_chunk_memory_store()
    digest = backing.put(os.urandom(32 * MIB))  # far more than flow control sends ahead
    with serve_in_thread(backing, limits=ServerLimits(idle_timeout=0.5)) as url:
        channel, stub = stub_for(url)
        with channel:
            stream = stub.Read(blobstore_pb2.ReadBlobRequest(digest=digest), timeout=60)
            next(iter(stream))
            time.sleep(2.0)  # take nothing for four idle timeouts
            with pytest.raises(grpc.RpcError) as failure:
                for _ in stream:
                    pass
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_messages_beyond_max_message_size_are_refused() -> None:
    limits = ServerLimits(max_message_size=2 * MIB)
    with serve_in_thread(small_chunk_memory_store(), limits=limits) as url:
        channel, stub = stub_for(url)
        with channel:
            with pytest.raises(grpc.RpcError) as failure:
                stub.Put(iter([blobstore_pb2.BlobChunk(data=bytes(3 * MIB))]), timeout=30)
            assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # Our own client's 1 MiB messages still pass.
            reply = stub.Put(iter([blobstore_pb2.BlobChunk(data=bytes(MIB))] * 3), timeout=30)
            assert len(reply.digest) == 32


def test_dripping_puts_are_cut_off_and_free_their_slots() -> None:
    """Two Puts dripping a byte every 0.2 s are never idle, but far below 1 KiB per 2 s."""
    stop = threading.Event()

    def drip() -> Iterator[blobstore_pb2.BlobChunk]:
        # 20 s of drips, then the stream ends: a server without a minimum rate stores them.
        for _ in range(100):
            if stop.is_set():
                return
            yield blobstore_pb2.BlobChunk(data=b"x")
            time.sleep(0.2)

    limits = ("--max-concurrent-puts", "2", "--min-rate", "1KiB/2s")
    with serve_process("memory://", *limits) as (_, address):
        channel, stub = stub_for(address)
        with channel:
            drips = [stub.Put.future(drip(), timeout=60) for _ in range(2)]
            try:
                endings = [_ending(call) for call in drips]
            finally:
                stop.set()
            # Both slots are free again.
            assert stub.Put(iter([blobstore_pb2.BlobChunk(data=b"honest")]), timeout=30).digest
    for code, details in endings:
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "too slow" in details, details


def test_a_put_waiting_for_a_slot_gives_up_at_the_deadline() -> None:
    release = threading.Event()

    def held_open() -> Iterator[blobstore_pb2.BlobChunk]:
        yield blobstore_pb2.BlobChunk(data=bytes(MIB))
        release.wait(timeout=60)

    limits = ("--max-concurrent-puts", "1", "--put-slot-timeout", "1")
    with serve_process("memory://", *limits) as (_, address):
        channel, stub = stub_for(address)
        with channel:
            holder = stub.Put.future(held_open(), timeout=90)
            try:
                code, details = _first_put_refusal(stub)
            finally:
                release.set()
            assert holder.result(timeout=60).digest  # the holder was never disturbed
            assert stub.Put(iter([blobstore_pb2.BlobChunk(data=b"later")]), timeout=30).digest
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert "no Put slot came free within 1 s" in details


def _ending(call: grpc.Future[blobstore_pb2.PutBlobResponse]) -> tuple[grpc.StatusCode, str]:
    """How a Put call ended: its status code and details."""
    try:
        call.result(timeout=60)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def _first_put_refusal(stub: blobstore_pb2_grpc.BlobServiceStub) -> tuple[grpc.StatusCode, str]:
    """Put small blobs until one fails (the holding Put needs a moment to take its slot)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        small = iter([blobstore_pb2.BlobChunk(data=b"small")])
        call = stub.Put.future(small, timeout=10)
        code, details = _ending(call)
        if code != grpc.StatusCode.OK:
            return code, details
        time.sleep(0.05)
    raise AssertionError("no Put ever waited for a slot")


@pytest.mark.parametrize(
    "bad",
    [
        {"max_blob_size": -1},
        {"max_concurrent_streams": 0},
        {"max_concurrent_puts": 0},
        {"idle_timeout": 0.0},
        {"idle_timeout": float("nan")},
        {"put_slot_timeout": 0.0},
        {"put_slot_timeout": float("inf")},
        {"max_message_size": MIN_MESSAGE_SIZE - 1},
        {"max_message_size": 1 << 40},
    ],
)
def test_limits_reject_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ServerLimits(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("4096", 4096),
        ("64K", 65536),
        ("4MiB", 4 * MIB),
        ("16g", 16 << 30),
        ("16GiB", 16 << 30),
        ("16GB", 16 * 10**9),
        ("1.5G", 3 << 29),
    ],
)
def test_sizes_mean_the_same_for_serve_and_shift_report(text: str, size: int) -> None:
    parser = build_parser()
    assert parse_size(text) == size
    assert parser.parse_args(["serve", "--max-blob-size", text]).max_blob_size == size
    if size:
        assert parser.parse_args(["shift-report", "--size", text]).size == size


@pytest.mark.parametrize("text", ["", "-1", "12 parsecs", "1P", "1.5B"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_size(text)


def test_serve_command_applies_max_blob_size(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(os.urandom(100_000))
    with serve_process("memory://", "--max-blob-size", "64K") as (_, address):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "baostore.cli",
                "put",
                str(data),
                "--store",
                f"grpc+http://{address}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "RESOURCE_EXHAUSTED" in result.stderr and "65536" in result.stderr
