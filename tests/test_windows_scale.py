"""A blob whose chunk list takes many Stat answers (small chunks, a lowered Stat limit): range
reads at its start, middle and end, whole reads at shift 0 and 4, resume, a cache tier and
substituter failover all work window by window over a real gRPC server."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
from baostore.compose.cache import CacheStore, FillingReader
from baostore.compose.substituters import SubstitutersStore
from baostore.grpc.client import GrpcBlobStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobStore, Stat, StatRequest
from baostore.verify import ReadOptions, VerifiedReader, fetch_layout, open_verified
from baostore.verify.resume import verified_prefix_length

from tests.adversarial.faults import Fault, FaultyStore
from tests.support.grpc_server import serve_in_thread

BLOB = os.urandom(4 << 20)
STAT_LIMIT = 8 << 10
ANSWERS = 10  # the chunk list alone takes at least this many Stat answers


@pytest.fixture(scope="module")
def stored() -> tuple[ChunkedStore, bytes]:
    store = open_store("memory://?chunk_avg=1KiB")
    assert isinstance(store, ChunkedStore)
    return store, store.put(BLOB)


@pytest.fixture(scope="module")
def served(stored: tuple[ChunkedStore, bytes]) -> Iterator[str]:
    with serve_in_thread(stored[0], stat_limit=STAT_LIMIT) as url:
        yield url


@pytest.fixture
def client(served: str) -> Iterator[GrpcBlobStore]:
    with GrpcBlobStore.from_url(served) as remote:
        yield remote


def test_the_chunk_list_takes_many_answers(
    stored: tuple[ChunkedStore, bytes], client: GrpcBlobStore
) -> None:
    store, digest = stored
    chunks = store.chunks(digest) or ()
    assert len(chunks) * 40 > ANSWERS * STAT_LIMIT
    whole = client.stat(digest, bao_shift=4)
    assert whole is not None and whole.chunks == ()  # a plain Stat drops a list that cannot fit


@pytest.mark.parametrize("offset", [0, len(BLOB) // 2 - 3000, len(BLOB) - 4096])
@pytest.mark.parametrize("shift", [0, 4])
def test_a_range_read_fetches_its_window_only(
    client: GrpcBlobStore, stored: tuple[ChunkedStore, bytes], offset: int, shift: int
) -> None:
    reader = open_verified(client, stored[1], ReadOptions(bao_shift=shift))
    assert reader is not None
    with reader:
        reader.limit_readahead(offset + 4096)
        reader.seek(offset)
        assert reader.read(4096) == BLOB[offset : offset + 4096]
        stats = reader.stats
    assert stats.windows_fetched <= 2  # the opening window, and the range's unless it is that one
    assert stats.bytes_fetched < 64 << 10 and stats.proof_bytes < 2 * STAT_LIMIT


@pytest.mark.parametrize("shift", [0, 4])
def test_a_whole_read_walks_the_windows(
    client: GrpcBlobStore, stored: tuple[ChunkedStore, bytes], shift: int
) -> None:
    reader = open_verified(client, stored[1], ReadOptions(bao_shift=shift))
    assert isinstance(reader, VerifiedReader)
    with reader:
        assert reader.layout.bao_shift == shift
        assert reader.read() == BLOB
        assert reader.stats.windows_fetched >= ANSWERS


def test_resume_rechecks_the_partial_window_by_window(
    client: GrpcBlobStore, stored: tuple[ChunkedStore, bytes]
) -> None:
    layout = fetch_layout(client, stored[1], ReadOptions(bao_shift=0))
    assert layout is not None
    damaged = bytearray(BLOB[: 3 << 20])
    damaged[(5 << 19) + 100] ^= 1
    assert verified_prefix_length(layout, io.BytesIO(bytes(damaged))) == 5 << 19
    assert verified_prefix_length(layout, io.BytesIO(BLOB)) == len(BLOB)
    assert layout.windows.stats.windows_fetched >= ANSWERS


def test_a_cache_tier_fills_window_by_window(
    client: GrpcBlobStore, stored: tuple[ChunkedStore, bytes]
) -> None:
    near = open_store("memory://?chunk_avg=64KiB")
    tier = CacheStore(near, client)
    reader = tier.open_read(stored[1])
    assert isinstance(reader, FillingReader)
    with reader:
        reader.seek(1 << 20)
        assert reader.read(100_000) == BLOB[1 << 20 : (1 << 20) + 100_000]
        reader.seek(0)
        assert reader.read() == BLOB
        assert reader.verified.stats.windows_fetched >= ANSWERS
    assert near.has(stored[1])  # recorded after the complete read
    again = tier.open_read(stored[1])
    assert again is not None and again.read() == BLOB


def test_failover_mid_stream_at_the_verified_offset(
    client: GrpcBlobStore, stored: tuple[ChunkedStore, bytes]
) -> None:
    liar: BlobStore = FaultyStore(client, Fault("flip_read", target=40, position=12345))
    store = SubstitutersStore({"liar": liar, "honest": client})
    reader = store.open_verified_read(stored[1], ReadOptions(bao_shift=0, parallelism=1))
    assert reader is not None
    with reader:
        reader.seek(1 << 20)  # chunk by chunk, so the 41st Read is in the middle
        assert reader.read() == BLOB[1 << 20 :]
        assert reader.member == "honest"
    assert store.failures == {"liar": 1, "honest": 0}


class IgnoresRanges(ForwardingStore):
    """A store as a server without ranged Stat answers: for the whole blob, whatever is asked."""

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        return super().stat_request(digest, replace(request, range=None))


def test_a_server_without_ranged_stat_is_read_from_its_whole_answer() -> None:
    store = open_store("memory://")
    blob = os.urandom(3 << 20)
    digest = store.put(blob)
    with (
        serve_in_thread(IgnoresRanges(store)) as url,
        GrpcBlobStore.from_url(url) as old_server,
    ):
        reader = open_verified(old_server, digest)
        assert reader is not None
        with reader:
            reader.seek(2 << 20)
            assert reader.read(5000) == blob[2 << 20 : (2 << 20) + 5000]
            reader.seek(0)
            assert reader.read() == blob
            assert reader.stats.windows_fetched == 1  # the whole answer served every position
