"""Random seek and read sequences against a lying source: every byte handed on, by any read call,
after any seek, before or after an error, is the blob's byte at the offset it was read from."""

from __future__ import annotations

import io
import os

from baostore.store.interface import BAO_FORMATS, BaoFormat, StoreError
from baostore.verify import ReadOptions, VerifiedReader, open_verified
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial.conftest import small_chunk_store
from tests.adversarial.faults import FAULT_KINDS, Fault, FaultKind, FaultyStore

# One group, a few chunks, many chunks.
BLOBS = [os.urandom(900), os.urandom(40_000), os.urandom(300_000), os.urandom(700_000)]
FOREIGN = os.urandom(70_000)
HONEST = small_chunk_store()
DIGESTS = [HONEST.put(blob) for blob in BLOBS]
HONEST.put(FOREIGN)
# Faults an in-process source can apply without sleeping; "none" is an honest source.
LIES: list[FaultKind | None] = [None, *(kind for kind in FAULT_KINDS if kind != "stall_read")]

operations = st.one_of(
    st.tuples(st.just("seek"), st.integers(0, 800_000), st.sampled_from([0, 1, 2])),
    st.tuples(st.sampled_from(["read", "read1", "readinto"]), st.integers(0, 200_000)),
    st.tuples(st.just("read"), st.just(-1)),
    st.tuples(st.just("readall")),
)


def perform(reader: VerifiedReader, operation: tuple[object, ...], size: int) -> bytes:
    """Run one operation; the bytes it handed on (b"" for a seek)."""
    name = operation[0]
    if name == "seek":
        offset, whence = operation[1], operation[2]
        assert isinstance(offset, int) and isinstance(whence, int)
        if whence == io.SEEK_SET:
            expected = reader.seek(offset)
        elif whence == io.SEEK_CUR:
            expected = reader.seek(offset - reader.tell(), io.SEEK_CUR)
        else:
            expected = reader.seek(-(offset % (size + 1)), io.SEEK_END)
        assert reader.tell() == expected == (offset if whence != io.SEEK_END else expected)
        return b""
    if name == "readall":
        return reader.readall()
    count = operation[1]
    assert isinstance(count, int)
    if name == "read":
        return reader.read(count)
    if name == "read1":
        return reader.read1(count)
    buffer = bytearray(b"\xee" * count)
    filled = reader.readinto(buffer)
    assert buffer[filled:] == b"\xee" * (count - filled)  # nothing written past what it says
    return bytes(buffer[:filled])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blob_index=st.integers(0, len(BLOBS) - 1),
    shift=st.sampled_from([0, 2, 4]),
    bao_format=st.sampled_from(BAO_FORMATS),
    lie=st.sampled_from(LIES),
    target=st.integers(0, 8),
    position=st.integers(0, 1 << 24),
    amount=st.integers(-5000, 5000),
    with_cache=st.booleans(),
    script=st.lists(operations, min_size=1, max_size=12),
)
def test_any_seek_read_sequence_hands_on_only_true_bytes(
    blob_index: int,
    shift: int,
    bao_format: BaoFormat,
    lie: FaultKind | None,
    target: int,
    position: int,
    amount: int,
    with_cache: bool,
    script: list[tuple[object, ...]],
) -> None:
    blob, digest = BLOBS[blob_index], DIGESTS[blob_index]
    fault = Fault(lie or "flip_read", target if lie else 1 << 30, position, amount)
    source = FaultyStore(HONEST, fault, foreign=FOREIGN)
    cache = small_chunk_store() if with_cache else None
    options = ReadOptions(bao_shift=shift, bao_format=bao_format)
    try:
        reader = open_verified(source, digest, options, cache=cache)
    except StoreError:
        assert lie is not None
        return
    assert reader is not None
    failed = False
    with reader:
        for operation in script:
            offset = reader.tell()
            try:
                data = perform(reader, operation, len(blob))
            except StoreError:
                assert lie is not None  # an honest source never fails a read
                failed = True
                continue
            assert data == blob[offset : offset + len(data)]
            assert reader.tell() == offset + len(data) or operation[0] == "seek"
            if operation[0] in ("read", "readall") and not failed:
                count = operation[1] if operation[0] == "read" else -1
                assert isinstance(count, int)
                wanted = len(blob) - offset if count < 0 else min(count, len(blob) - offset)
                assert len(data) == max(0, wanted)  # read(n) is never short before the end
    if cache is not None:
        for chunk_digest in cache.chunk_digests():
            cached = cache.read_chunk(chunk_digest)
            assert cached is not None and cached in blob
