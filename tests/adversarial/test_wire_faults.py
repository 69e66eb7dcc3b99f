"""The malicious server over the real wire: FaultyStore served by the gRPC server, read through
GrpcBlobStore and through ``baostore get``. Whatever the lie, nothing false is handed on, nothing
false enters the cache, a stall ends in a timeout, and a failed get leaves no file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR
from baostore.cli.partial import partial_path
from baostore.grpc.client import GrpcBlobStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import BAO_FORMATS, BaoFormat, StoreError
from baostore.verify import ReadOptions, VerificationError, VerifiedReader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial.conftest import assert_cache_holds_only_truth, small_chunk_store
from tests.adversarial.faults import FAULT_KINDS, Fault, FaultKind, FaultyStore
from tests.support.grpc_server import serve_in_thread

# Empty, inline-sized, one chunk, a few chunks, many chunks.
BLOBS = [b"", os.urandom(900), os.urandom(40_000), os.urandom(300_000), os.urandom(1_100_000)]
FOREIGN = os.urandom(70_000)
# The server sleeps this long in a stalled Read; the client gives up after IDLE_TIMEOUT.
STALL_SECONDS = 1.5
IDLE_TIMEOUT = 0.3


class Served:
    """One server for the module; each example swaps the fault of its FaultyStore."""

    def __init__(self, liar: FaultyStore, honest: ChunkedStore, url: str) -> None:
        self.liar = liar
        self.honest = honest
        self.url = url
        self.digests = [honest.put(blob) for blob in BLOBS]
        honest.put(FOREIGN)

    def lie(self, fault: Fault) -> None:
        self.liar.fault = fault
        self.liar.reads_started = 0


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    honest = small_chunk_store()
    liar = FaultyStore(honest, Fault("flip_read", target=1 << 30), foreign=FOREIGN)
    with serve_in_thread(liar) as url:
        yield Served(liar, honest, url)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    blob_index=st.integers(0, len(BLOBS) - 1),
    shift=st.sampled_from([0, 2, 4, 6]),
    bao_format=st.sampled_from(BAO_FORMATS),
    kind=st.sampled_from(FAULT_KINDS),
    target=st.integers(0, 5),
    position=st.integers(0, 1 << 24),
    amount=st.integers(-5000, 5000),
    read_size=st.sampled_from([1000, 65536, 1 << 20, -1]),
    start=st.integers(0, 1_200_000),
)
def test_a_lying_server_hands_on_only_true_bytes(
    served: Served,
    blob_index: int,
    shift: int,
    bao_format: BaoFormat,
    kind: FaultKind,
    target: int,
    position: int,
    amount: int,
    read_size: int,
    start: int,
) -> None:
    blob, digest = BLOBS[blob_index], served.digests[blob_index]
    served.lie(Fault(kind, target, position, amount, stall_seconds=STALL_SECONDS))
    cache = small_chunk_store()
    start = min(start, len(blob))
    handed_on = bytearray()
    failure: StoreError | None = None
    with GrpcBlobStore.from_url(served.url) as client:
        client.idle_timeout = IDLE_TIMEOUT
        client.read_options = ReadOptions(bao_shift=shift, bao_format=bao_format)
        client.cache = cache
        try:
            reader = client.open_read(digest)
            assert isinstance(reader, VerifiedReader)
            reader.seek(start)
            while piece := reader.read(read_size):
                handed_on += piece
        except StoreError as error:
            failure = error
    assert bytes(handed_on) == blob[start : start + len(handed_on)]
    if failure is None:
        assert len(handed_on) == len(blob) - start  # a lie that changed nothing read
    elif kind == "stall_read":
        assert "stalled" in str(failure)
    else:
        assert isinstance(failure, VerificationError), failure
    assert_cache_holds_only_truth(cache, served.honest, blob)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("flip_read", position=12345),
        Fault("truncate_read", amount=100),
        Fault("extend_read", amount=7),
        Fault("foreign_chunk"),
        Fault("flip_bao", position=999),
        Fault("wrong_size", amount=-1),
        Fault("drop_chunk", position=2),
    ],
    ids=lambda fault: fault.kind,
)
def test_get_of_bad_data_exits_non_zero_and_leaves_no_file(
    served: Served, fault: Fault, tmp_path: Path, private_user_cache: Path
) -> None:
    blob, digest = BLOBS[-1], served.digests[-1]
    served.lie(fault)
    target = tmp_path / "out.bin"
    assert main(["get", digest.hex(), "--store", served.url, "-o", str(target)]) == EXIT_ERROR
    assert list(tmp_path.iterdir()) == []  # no output, no partial: the data was proven bad
    cache = open_store((private_user_cache / "baostore" / "chunks").as_uri())
    assert isinstance(cache, ChunkedStore)
    assert_cache_holds_only_truth(cache, served.honest, blob)


def test_get_from_a_stalling_server_times_out_and_keeps_its_verified_part(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob, digest = BLOBS[-1], served.digests[-1]
    served.lie(Fault("stall_read", position=40, stall_seconds=STALL_SECONDS))
    # The idle timeout a user sets: in a config file.
    config = tmp_path / "stores.toml"
    config.write_text(f'[stores.root]\nurl = "{served.url}"\nidle_timeout = {IDLE_TIMEOUT}\n')
    output = tmp_path / "out"
    output.mkdir()
    target = output / "out.bin"
    assert main(["get", digest.hex(), "--config", str(config), "-o", str(target)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "stalled" in err and "continues from there" in err
    partial = partial_path(target, digest)
    assert list(output.iterdir()) == [partial]  # not proven bad: kept for the next get
    assert partial.read_bytes() == blob[: partial.stat().st_size]
