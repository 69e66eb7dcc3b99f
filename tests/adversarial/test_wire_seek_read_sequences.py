"""Random seek and read sequences over the real wire: a lying server (FaultyStore behind the gRPC
server) read through GrpcBlobStore with a chunk cache. Every byte handed on, by any read call,
after any seek, before or after an error, is the blob's byte at its offset; the cache holds only
true chunks."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from baostore.grpc.client import GrpcBlobStore
from baostore.store.interface import BAO_FORMATS, BaoFormat, StoreError
from baostore.verify import ReadOptions, VerifiedReader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial.conftest import small_chunk_store
from tests.adversarial.faults import FAULT_KINDS, Fault, FaultKind, FaultyStore
from tests.support.grpc_server import serve_in_thread

BLOBS = [os.urandom(900), os.urandom(300_000), os.urandom(1_100_000)]
FOREIGN = os.urandom(70_000)
LIES: list[FaultKind | None] = [None, *(kind for kind in FAULT_KINDS if kind != "stall_read")]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FaultyStore, list[bytes], str]]:
    honest = small_chunk_store()
    digests = [honest.put(blob) for blob in BLOBS]
    honest.put(FOREIGN)
    liar = FaultyStore(honest, Fault("flip_read", target=1 << 30), foreign=FOREIGN)
    with serve_in_thread(liar) as url:
        yield liar, digests, url


operations = st.one_of(
    st.tuples(st.just("seek"), st.integers(0, 1_200_000), st.sampled_from([0, 1, 2])),
    st.tuples(st.sampled_from(["read", "read1", "readinto"]), st.integers(-1, 300_000)),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    blob_index=st.integers(0, len(BLOBS) - 1),
    bao_format=st.sampled_from(BAO_FORMATS),
    lie=st.sampled_from(LIES),
    target=st.integers(0, 6),
    position=st.integers(0, 1 << 24),
    amount=st.integers(-5000, 5000),
    script=st.lists(operations, min_size=1, max_size=8),
)
def test_seek_read_sequences_over_the_wire_hand_on_only_true_bytes(
    served: tuple[FaultyStore, list[bytes], str],
    blob_index: int,
    bao_format: BaoFormat,
    lie: FaultKind | None,
    target: int,
    position: int,
    amount: int,
    script: list[tuple[str, int, int] | tuple[str, int]],
) -> None:
    liar, digests, url = served
    blob, digest = BLOBS[blob_index], digests[blob_index]
    liar.fault = Fault(lie or "flip_read", target if lie else 1 << 30, position, amount)
    liar.reads_started = 0
    cache = small_chunk_store()
    with GrpcBlobStore.from_url(url) as client:
        client.read_options = ReadOptions(bao_format=bao_format)
        client.cache = cache
        try:
            reader = client.open_read(digest)
        except StoreError:
            assert lie is not None
            return
        assert isinstance(reader, VerifiedReader)
        with reader:
            for operation in script:
                offset = reader.tell()
                if len(operation) == 3:  # ("seek", where, whence)
                    _, where, whence = operation
                    if whence == io.SEEK_END:
                        reader.seek(-(where % (len(blob) + 1)), io.SEEK_END)
                    else:
                        reader.seek(where - offset if whence == io.SEEK_CUR else where, whence)
                    continue
                count = operation[1]
                try:
                    if operation[0] == "read":
                        data = reader.read(count)
                    elif operation[0] == "read1":
                        data = reader.read1(count)
                    else:
                        buffer = bytearray(max(count, 0))
                        data = bytes(buffer[: reader.readinto(buffer)])
                except StoreError:
                    assert lie is not None
                    continue
                assert data == blob[offset : offset + len(data)]
                assert reader.tell() == offset + len(data)
    for chunk_digest in cache.chunk_digests():
        cached = cache.read_chunk(chunk_digest)
        assert cached is not None and cached in blob
