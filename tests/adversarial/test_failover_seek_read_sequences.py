"""Random seek and read sequences through substituters whose first members lie (hypothesis picks
the lies): with an honest member last, every read succeeds, every byte is the blob's byte at its
offset, and read(n) is never short before the end."""

from __future__ import annotations

import io
import os

from baostore.compose.substituters import FailoverReader, SubstitutersStore
from baostore.verify import ReadOptions
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.adversarial.conftest import small_chunk_store
from tests.adversarial.faults import FAULT_KINDS, Fault, FaultyStore

BLOBS = [os.urandom(900), os.urandom(300_000), os.urandom(700_000)]
FOREIGN = os.urandom(70_000)
HONEST = small_chunk_store()
DIGESTS = [HONEST.put(blob) for blob in BLOBS]
HONEST.put(FOREIGN)
LIES = [kind for kind in FAULT_KINDS if kind != "stall_read"]

faults = st.builds(
    Fault,
    kind=st.sampled_from(LIES),
    target=st.integers(0, 6),
    position=st.integers(0, 1 << 24),
    amount=st.integers(-5000, 5000),
)
operations = st.one_of(
    st.tuples(st.just("seek"), st.integers(0, 800_000), st.sampled_from([0, 1, 2])),
    st.tuples(st.sampled_from(["read", "readinto"]), st.integers(-1, 200_000)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blob_index=st.integers(0, len(BLOBS) - 1),
    shift=st.sampled_from([0, 4]),
    lies=st.lists(faults, min_size=1, max_size=2),
    script=st.lists(operations, min_size=1, max_size=10),
)
def test_failover_hands_on_only_true_bytes_and_always_completes(
    blob_index: int,
    shift: int,
    lies: list[Fault],
    script: list[tuple[str, int, int] | tuple[str, int]],
) -> None:
    blob, digest = BLOBS[blob_index], DIGESTS[blob_index]
    # A size lie within the last group is proven wrong only when that group fails to verify: a
    # seek from the end before that uses the claimed size (test_lying_stat_is_skipped covers it).
    assume(
        not any(fault.kind == "wrong_size" for fault in lies)
        or not any(len(step) == 3 and step[2] == io.SEEK_END for step in script)
    )
    liars = [FaultyStore(HONEST, fault, foreign=FOREIGN) for fault in lies]
    store = SubstitutersStore([*liars, HONEST], options=ReadOptions(bao_shift=shift))
    reader = store.open_verified_read(digest)
    assert isinstance(reader, FailoverReader)
    with reader:
        for operation in script:
            offset = reader.tell()
            if len(operation) == 3:  # ("seek", target, whence)
                _, target, whence = operation
                if whence == io.SEEK_END:
                    target = len(blob) - target % (len(blob) + 1)
                    reader.seek(target - len(blob), io.SEEK_END)
                elif whence == io.SEEK_CUR:
                    reader.seek(target - offset, io.SEEK_CUR)
                else:
                    reader.seek(target)
                assert reader.tell() == target
                continue
            count = operation[1]
            if operation[0] == "read":
                data = reader.read(count)
            else:
                buffer = bytearray(max(count, 0))
                data = bytes(buffer[: reader.readinto(buffer)])
            assert data == blob[offset : offset + len(data)]
            wanted = len(blob) - offset if count < 0 else min(count, len(blob) - offset)
            if operation[0] == "read" or count > 0:
                assert len(data) == max(0, wanted)
            assert reader.tell() == offset + len(data)
