"""Verifier.check: the no-copy entry point. It counts what update() would return, byte for byte,
so a caller that keeps its own buffers hands on exactly the verified bytes."""

from __future__ import annotations

import itertools
import mmap
import random
from pathlib import Path

import pytest
from baostore import bao
from hypothesis import given, settings
from hypothesis import strategies as st

EXAMPLES = settings(max_examples=80, deadline=None)


@st.composite
def blobs(draw: st.DrawFn) -> tuple[bytes, int]:
    shift = draw(st.integers(0, 5))
    group = bao.group_size(shift)
    size = draw(st.integers(0, 20 * group) | st.sampled_from([group - 1, group, group + 1]))
    return random.Random(draw(st.integers(0, 2**32))).randbytes(max(size, 0)), shift


def cut(data: bytes, points: list[int]) -> list[memoryview]:
    bounds = [0, *sorted(min(point, len(data)) for point in points), len(data)]
    view = memoryview(data)
    return [view[a:b] for a, b in itertools.pairwise(bounds)]


@EXAMPLES
@given(blob=blobs(), points=st.lists(st.integers(0, 1 << 20), max_size=8))
def test_check_counts_what_update_returns(blob: tuple[bytes, int], points: list[int]) -> None:
    data, shift = blob
    root, ob = bao.outboard(data, shift)
    checking = bao.Verifier(root, len(data), ob, shift)
    updating = bao.Verifier(root, len(data), ob, shift)
    for piece in cut(data, points):
        assert checking.check(piece) == len(updating.update(piece))
        assert checking.released == checking.verified == updating.released
    checking.finalize()
    assert checking.released == len(data)


@EXAMPLES
@given(
    blob=blobs(),
    points=st.lists(st.integers(0, 1 << 20), max_size=8),
    at=st.integers(0),
    bit=st.integers(0, 7),
)
def test_check_never_counts_a_damaged_group(
    blob: tuple[bytes, int], points: list[int], at: int, bit: int
) -> None:
    data, shift = blob
    if not data:
        return
    root, ob = bao.outboard(data, shift)
    damaged = bytearray(data)
    at %= len(data)
    damaged[at] ^= 1 << bit
    verifier = bao.Verifier(root, len(data), ob, shift)
    counted = 0
    with pytest.raises(bao.MismatchError):
        for piece in cut(bytes(damaged), points):
            counted += verifier.check(piece)
        verifier.finalize()
    group = bao.group_size(shift)
    assert counted == verifier.released <= verifier.verified <= at // group * group


def test_check_on_a_window_from_its_proof_and_an_mmap(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(300_000)
    shift = 2
    group = bao.group_size(shift)
    root, ob = bao.outboard(data, shift)
    start, end = bao.window(len(data), shift, 100_000, 200_000)
    proof = bao.window_proof(ob, len(data), shift, "pre_order", start, end)
    path = tmp_path / "blob"
    path.write_bytes(data)
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        verifier = bao.Verifier.from_proof(root, len(data), proof, shift, "pre_order", start, end)
        view = memoryview(mapped)
        try:
            step = 7 * group + 3  # pieces that end mid-group
            verified = sum(
                verifier.check(view[at : min(at + step, end)]) for at in range(start, end, step)
            )
        finally:
            view.release()
    verifier.finalize()
    assert verified == end - start
