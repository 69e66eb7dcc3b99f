"""Lies of ranged Stat answers: another window than asked, a proof of the wrong length or for
another window, chunks that do not cover the window. Each is a clear VerificationError, whether
the lie comes with the first window or a later one, with only true bytes handed on before it and
nothing wrong in the chunk cache."""

from __future__ import annotations

import os

import pytest
from baostore.store.interface import ByteRange
from baostore.verify import ReadOptions, VerificationError, open_verified

from tests.adversarial.conftest import assert_cache_holds_only_truth, small_chunk_store
from tests.adversarial.faults import Fault, FaultKind, FaultyStore

BLOB = os.urandom(1_500_000)
HONEST = small_chunk_store()
DIGEST = HONEST.put(BLOB)

LIES: list[tuple[FaultKind, str]] = [
    ("other_window", "answered window"),
    # The next window's proof: refused by its length or, where the lengths agree, by the digest.
    ("other_window_proof", "does not match the digest|-byte proof"),
    ("proof_too_long", "-byte proof"),
    ("window_beyond_chunks", "its chunks end at"),
    ("chunks_after_window_start", "chunks start at"),
]


class LaterLies(FaultyStore):
    """Honest for the first ``honest_windows`` ranged answers, then lying."""

    def __init__(self, kind: FaultKind, honest_windows: int) -> None:
        super().__init__(HONEST, Fault(kind))
        self.honest_windows = honest_windows

    def stat_request(self, digest: bytes, request):  # type: ignore[no-untyped-def]
        if request.range is not None and self.honest_windows > 0:
            self.honest_windows -= 1
            return self.inner.stat_request(digest, request)
        return super().stat_request(digest, request)


@pytest.mark.parametrize(("kind", "message"), LIES)
@pytest.mark.parametrize("honest_windows", [0, 1, 3], ids=["first", "second", "fourth"])
def test_a_lying_window_is_a_verification_error(
    kind: FaultKind, message: str, honest_windows: int
) -> None:
    liar = LaterLies(kind, honest_windows)
    cache = small_chunk_store()
    handed_on = bytearray()
    # Small windows, so the blob takes many.
    options = ReadOptions(first_window_groups=4, window_size=128 << 10)
    with pytest.raises(VerificationError, match=message):
        reader = open_verified(liar, DIGEST, options, cache=cache)
        assert reader is not None
        with reader:
            while piece := reader.read1(50_000):
                handed_on += piece
    assert bytes(handed_on) == BLOB[: len(handed_on)]
    if honest_windows:
        assert handed_on  # the honest windows were read first
    assert_cache_holds_only_truth(cache, HONEST, BLOB)


def test_a_range_read_asks_only_for_its_window() -> None:
    asked: list[ByteRange | None] = []

    class Recording(FaultyStore):
        def stat_request(self, digest, request):  # type: ignore[no-untyped-def]
            asked.append(request.range)
            return self.inner.stat_request(digest, request)

    reader = open_verified(Recording(HONEST, Fault("flip_read", target=1 << 30)), DIGEST)
    assert reader is not None
    with reader:
        reader.limit_readahead(1_000_000 + 4096)
        reader.seek(1_000_000)
        assert reader.read(4096) == BLOB[1_000_000:1_004_096]
        assert reader.stats.windows_fetched == 2
    # The opening window (the first group), then exactly the read's range rounded to groups.
    assert asked == [ByteRange(0, 16384), ByteRange(1_000_000 - 1_000_000 % 16384, 1_004_096)]
