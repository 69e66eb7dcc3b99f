"""Stats that rehash data cannot starve cheap calls (issue 12, item 2), against a real
``baostore serve``: expensive Stats wait for their slot without holding a worker thread, so a Stat
of a small blob is answered while they are still queued, and a Stat that waits too long for its
slot is refused with RESOURCE_EXHAUSTED rather than queued forever."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import grpc
import pytest
from baostore.grpc.client import GrpcBlobStore
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc

from tests.test_cli_serve import start_serve

EXPENSIVE = 16
BIG = 256 << 20  # the size of the report: a whole-blob Stat at shift 0 rehashes all of it


def expensive_request(digest: bytes) -> blobstore_pb2.StatBlobRequest:
    return blobstore_pb2.StatBlobRequest(digest=digest, send_bao=True, bao_shift=0)


Served = tuple[str, bytes, bytes]


@contextmanager
def serving(wait: str, big_size: int) -> Iterator[Served]:
    """A serve process running one rehash at a time, waiting ``wait`` seconds for its slot,
    holding a big blob and a 10-byte one: its address and their digests."""
    process, address = start_serve(
        "--store",
        "memory://",
        "--listen",
        "127.0.0.1:0",
        "--max-expensive-stats",
        "1",
        "--expensive-wait",
        wait,
    )
    try:
        with GrpcBlobStore.from_url(f"grpc+http://{address}", timeout=600) as client:
            big = client.put(os.urandom(big_size))
            small = client.put(b"ten bytes!")
        yield address, big, small
    finally:
        process.terminate()
        process.communicate(timeout=60)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving("600", BIG) as served:
        yield served


def test_a_cheap_stat_is_answered_while_expensive_ones_are_queued(served: Served) -> None:
    address, big, small = served
    completed = 0
    lock = threading.Lock()

    def count(_: object) -> None:
        nonlocal completed
        with lock:
            completed += 1

    with grpc.insecure_channel(address) as channel:
        stub = blobstore_pb2_grpc.BlobServiceStub(channel)
        # One connection: the server receives the expensive Stats before the cheap one.
        calls = [stub.Stat.future(expensive_request(big), timeout=600) for _ in range(EXPENSIVE)]
        for call in calls:
            call.add_done_callback(count)
        cheap = stub.Stat(blobstore_pb2.StatBlobRequest(digest=small), timeout=600)
        with lock:
            done_when_cheap_answered = completed
        codes = [_code(call) for call in calls]
    assert cheap.size == 10
    # One rehash at a time takes a rehash per blob of 256 MiB: the cheap Stat was answered while
    # nearly all of them were still waiting. (Before the fix the cheap Stat queued behind the
    # expensive ones in the shared worker threads, answered only after most of them.)
    assert done_when_cheap_answered < EXPENSIVE // 2
    assert codes == [grpc.StatusCode.OK] * EXPENSIVE


def _code(
    call: grpc.Future[blobstore_pb2.StatBlobResponse] | Future[blobstore_pb2.StatBlobResponse],
) -> grpc.StatusCode:
    try:
        call.result()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _details(call: Future[blobstore_pb2.StatBlobResponse]) -> str:
    try:
        call.result()
    except grpc.RpcError as error:
        return str(error.details())
    return ""


def test_an_expensive_stat_waits_for_its_slot_no_longer_than_the_limit() -> None:
    with serving("0.01", 64 << 20) as (address, big, _), grpc.insecure_channel(address) as channel:
        stub = blobstore_pb2_grpc.BlobServiceStub(channel)
        with ThreadPoolExecutor(8) as pool:
            calls = [pool.submit(stub.Stat, expensive_request(big), timeout=600) for _ in range(8)]
            codes = [_code(call) for call in calls]
            refusals = [_details(call) for call in calls if _code(call) != grpc.StatusCode.OK]
    # One runs; those that find the slot taken for longer than 10 ms are refused, not queued,
    # and say that the limit (0.01 s) was what they waited.
    assert grpc.StatusCode.OK in codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert refusals and all("none became free within 0.01 s" in text for text in refusals)
