"""A lying source never gets a wrong byte past the verified reader (hypothesis chooses the lie)."""

from __future__ import annotations

import os

import pytest
from baostore.store.interface import BAO_FORMATS, BaoFormat, BlobStore, StoreError
from baostore.verify import ReadOptions, VerificationError, open_verified
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial.conftest import assert_cache_holds_only_truth, small_chunk_store
from tests.adversarial.faults import FAULT_KINDS, Fault, FaultKind, FaultyStore

# Blobs of different shapes: empty, one group, a few chunks, many chunks.
BLOBS = [b"", os.urandom(900), os.urandom(40_000), os.urandom(300_000), os.urandom(1_100_000)]
IN_PROCESS_FAULTS = [kind for kind in FAULT_KINDS if kind != "stall_read"]
# Lies about where chunks start (the count and total stay right) that one Read of the whole blob
# never relies on.
HARMLESS_TO_ONE_READ = ("wrong_chunk_sizes", "swap_chunks")
CHUNK_LIST_FAULTS = ("wrong_chunk_sizes", "swap_chunks", "drop_chunk")


def _stored() -> tuple[BlobStore, list[bytes]]:
    store = small_chunk_store()
    return store, [store.put(blob) for blob in BLOBS]


HONEST, DIGESTS = _stored()
FOREIGN = os.urandom(70_000)
HONEST.put(FOREIGN)


@pytest.mark.parametrize("kind", IN_PROCESS_FAULTS)
@pytest.mark.parametrize(
    ("start", "target"),
    [(0, 0), (200_000, 1)],
    ids=["one Read for the whole blob", "a Read per chunk after a seek"],
)
def test_every_fault_is_caught(kind: FaultKind, start: int, target: int) -> None:
    position = 7777
    if kind in CHUNK_LIST_FAULTS:
        # Lie about the last chunks: a read from ``start`` must use them (it skips the first).
        position = len(HONEST.chunks(DIGESTS[-1]) or ()) - 2
    fault = Fault(kind, target=target, position=position, amount=3)
    liar = FaultyStore(HONEST, fault, foreign=FOREIGN)

    def read() -> bytes:
        reader = open_verified(liar, DIGESTS[-1])
        assert reader is not None
        reader.seek(start)
        return reader.read()

    if start == 0 and kind in HARMLESS_TO_ONE_READ:
        # The blob's own Read does not depend on how the chunk list cuts it: the bytes verify.
        assert read() == BLOBS[-1]
    else:
        with pytest.raises(VerificationError):
            read()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    blob_index=st.integers(0, len(BLOBS) - 1),
    shift=st.sampled_from([0, 2, 4, 6]),
    bao_format=st.sampled_from(BAO_FORMATS),
    kind=st.sampled_from(IN_PROCESS_FAULTS),
    target=st.integers(0, 6),
    position=st.integers(0, 1 << 24),
    amount=st.integers(-5000, 5000),
    read_size=st.sampled_from([1, 1000, 4096, 65536, 1 << 20, -1]),
    start=st.integers(0, 1_200_000),
)
def test_only_true_bytes_are_handed_on(
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
    blob, digest = BLOBS[blob_index], DIGESTS[blob_index]
    fault = Fault(kind, target=target, position=position, amount=amount)
    liar = FaultyStore(HONEST, fault, foreign=FOREIGN)
    cache = small_chunk_store()
    start = min(start, len(blob))
    handed_on = bytearray()
    try:
        reader = open_verified(
            liar, digest, ReadOptions(bao_shift=shift, bao_format=bao_format), cache=cache
        )
        assert reader is not None
        reader.seek(start)
        while piece := reader.read(read_size):
            handed_on += piece
    except (VerificationError, StoreError):
        pass
    # Whatever happened, every byte handed on is the blob's byte at that offset.
    assert bytes(handed_on) == blob[start : start + len(handed_on)]
    # And the cache took nothing but true chunks of this blob.
    assert_cache_holds_only_truth(cache, HONEST, blob)
