"""Window proofs, the post-order layout and proof plans, from Python: for any size, shift, format
and window the proof verifies exactly the window's bytes, and every lie is refused with only a
true prefix handed on."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from baostore import bao
from hypothesis import assume, given, settings
from hypothesis import strategies as st

FORMATS: tuple[bao.BaoFormat, ...] = ("pre_order", "leaves")
MAX_TEST_SHIFT = 10
MAX_TEST_SIZE = 48 * 1024

EXAMPLES = settings(max_examples=80, deadline=None)


@dataclass(frozen=True)
class Case:
    data: bytes
    shift: int
    format: bao.BaoFormat
    start: int  # the asked window, not rounded
    end: int

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def window(self) -> tuple[int, int]:
        return bao.window(self.size, self.shift, self.start, self.end)

    @property
    def truth(self) -> bytes:
        first, last = self.window
        return self.data[first:last]


@st.composite
def sizes(draw: st.DrawFn, shift: int) -> int:
    """Any size, weighted to group and tree boundaries (powers of two groups) and either side."""
    group = bao.group_size(shift)
    boundary = st.builds(
        lambda groups, delta: max(groups * group + delta, 0),
        st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 32, 33]),
        st.sampled_from([-1, 0, 1]),
    )
    size: int = draw(st.integers(0, MAX_TEST_SIZE) | boundary)
    return min(size, MAX_TEST_SIZE * 4)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    shift = draw(st.integers(0, MAX_TEST_SHIFT))
    size = draw(sizes(shift))
    data = random.Random(draw(st.integers(0, 2**32))).randbytes(size)
    if size == 0:
        start, end = 0, 0
    else:
        start = draw(st.integers(0, size - 1))
        end = draw(st.integers(start + 1, size))
    return Case(data, shift, draw(st.sampled_from(FORMATS)), start, end)


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def proof_of(case: Case) -> bytes:
    _, outboard = bao.outboard(case.data, case.shift, case.format)
    return bao.window_proof(outboard, case.size, case.shift, case.format, case.start, case.end)


def run_window(
    case: Case,
    proof: bytes,
    pieces: list[bytes],
    *,
    size: int | None = None,
    window: tuple[int, int] | None = None,
) -> tuple[bytes, type[bao.BaoError] | None]:
    """What a verifier made from ``proof`` released for ``pieces`` (of the case's window, or of
    ``window`` in a blob said to be ``size`` bytes), and the type of the BaoError it raised."""
    first, last = case.window if window is None else window
    released = bytearray()
    try:
        verifier = bao.Verifier.from_proof(
            bao.hash(case.data),
            case.size if size is None else size,
            proof,
            case.shift,
            case.format,
            first,
            last,
        )
        for piece in pieces:
            released += verifier.update(piece)
        released += verifier.finalize()
    except bao.BaoError as error:
        return bytes(released), type(error)
    return bytes(released), None


@EXAMPLES
@given(case=cases(), cuts=st.lists(st.integers(0, MAX_TEST_SIZE), max_size=6))
def test_a_proof_verifies_exactly_the_window(case: Case, cuts: list[int]) -> None:
    proof = proof_of(case)
    assert len(proof) == bao.proof_size(case.size, case.shift, case.format, case.start, case.end)
    assert run_window(case, proof, pieces_of(case.truth, cuts)) == (case.truth, None)


@EXAMPLES
@given(case=cases())
def test_the_whole_window_proof_is_the_whole_bao(case: Case) -> None:
    _, outboard = bao.outboard(case.data, case.shift, case.format)
    assert bao.window_proof(outboard, case.size, case.shift, case.format, 0, case.size) == outboard


@EXAMPLES
@given(
    case=cases(),
    at=st.integers(0),
    bit=st.integers(0, 7),
    cuts=st.lists(st.integers(0, MAX_TEST_SIZE), max_size=4),
)
def test_a_flipped_data_bit_is_refused_with_only_a_true_prefix_released(
    case: Case, at: int, bit: int, cuts: list[int]
) -> None:
    assume(case.size > 0)
    damaged = bytearray(case.truth)
    at %= len(damaged)
    damaged[at] ^= 1 << bit
    released, error = run_window(case, proof_of(case), pieces_of(bytes(damaged), cuts))
    assert error is bao.MismatchError
    group = bao.group_size(case.shift)
    assert len(released) <= at // group * group
    assert released == case.truth[: len(released)]


@EXAMPLES
@given(case=cases(), at=st.integers(0), bit=st.integers(0, 7))
def test_a_flipped_proof_bit_is_refused_before_any_data(case: Case, at: int, bit: int) -> None:
    proof = bytearray(proof_of(case))
    assume(proof)
    proof[at % len(proof)] ^= 1 << bit
    released, error = run_window(case, bytes(proof), [case.truth])
    assert (released, error) == (b"", bao.MismatchError)


@EXAMPLES
@given(case=cases(), cut=st.integers(1, 100), extend=st.booleans())
def test_a_truncated_or_extended_proof_is_malformed(case: Case, cut: int, extend: bool) -> None:
    proof = proof_of(case)
    proof = proof + bytes(cut) if extend or not proof else proof[:-cut]
    released, error = run_window(case, proof, [case.truth])
    assert (released, error) == (b"", bao.MalformedBaoError)


@EXAMPLES
@given(case=cases(), other_start=st.integers(0), other_len=st.integers(1))
def test_a_proof_for_another_window_is_refused_unless_it_is_the_same(
    case: Case, other_start: int, other_len: int
) -> None:
    assume(case.size > 0)
    other_start %= case.size
    other_end = min(other_start + other_len, case.size)
    _, outboard = bao.outboard(case.data, case.shift, case.format)
    other = bao.window_proof(outboard, case.size, case.shift, case.format, other_start, other_end)
    released, error = run_window(case, other, [case.truth])
    if other == proof_of(case):
        assert (released, error) == (case.truth, None)
    else:
        assert error is not None and issubclass(error, bao.BaoError)
        assert released == b""


@EXAMPLES
@given(case=cases(), claimed=st.integers(0, MAX_TEST_SIZE * 4))
def test_a_wrong_size_never_releases_a_wrong_byte(case: Case, claimed: int) -> None:
    assume(claimed != case.size)
    try:
        first, last = bao.window(claimed, case.shift, case.start, case.end)
    except ValueError:
        return  # the window does not exist in a blob of the claimed size
    released, error = run_window(
        case, proof_of(case), [case.data[first:last]], size=claimed, window=(first, last)
    )
    assert released == case.data[first : first + len(released)]
    group = bao.group_size(case.shift)
    if last == claimed or -(-last // group) >= -(-case.size // group):
        assert error is not None


@EXAMPLES
@given(
    case=cases(),
    stored_shift=st.integers(0, 8),
    max_gap=st.sampled_from([0, 64, 4096]),
    cuts=st.lists(st.integers(0, MAX_TEST_SIZE), max_size=4),
)
def test_a_plan_over_a_streamed_post_order_bao_builds_the_proof(
    case: Case, stored_shift: int, max_gap: int, cuts: list[int]
) -> None:
    builder = bao.PostOrderBuilder(stored_shift)
    stored = b"".join(builder.update(piece) for piece in pieces_of(case.data, cuts))
    root, rest = builder.finalize()
    stored += rest
    assert root == bao.hash(case.data)
    _, pre_order = bao.outboard(case.data, stored_shift)
    assert stored == bao.pre_order_to_post_order(pre_order, case.size, stored_shift)
    assert bao.post_order_to_pre_order(stored, case.size, stored_shift) == pre_order

    plan = bao.ProofPlan(
        case.size, stored_shift, case.shift, case.format, case.start, case.end, max_gap
    )
    assert (plan.start, plan.end) == case.window
    pieces = [stored[low:high] for low, high in plan.outboard_ranges]
    data = None if plan.data_range is None else case.data[slice(*plan.data_range)]
    if case.shift >= stored_shift:
        assert data is None
    proof = plan.build(root, pieces, data)
    assert len(proof) == plan.proof_size
    assert proof == proof_of(case)


def test_windows_round_out_to_groups() -> None:
    group = bao.group_size(2)
    assert bao.window(10 * group, 2, 1, 2) == (0, group)
    assert bao.window(10 * group - 3, 2, 9 * group + 5, 10 * group - 3) == (
        9 * group,
        10 * group - 3,
    )
    assert bao.window(0, 2, 0, 0) == (0, 0)
    for start, end in [(5, 5), (6, 5), (0, 10 * group + 1)]:
        with pytest.raises(ValueError, match="window"):
            bao.window(10 * group, 2, start, end)


def test_a_stored_bao_that_lies_is_refused_by_the_plan() -> None:
    data = random.Random(1).randbytes(300_000)
    builder = bao.PostOrderBuilder(4)
    stored = builder.update(data)
    root, rest = builder.finalize()
    stored += rest
    plan = bao.ProofPlan(len(data), 4, 0, "leaves", 100_000, 100_001)
    assert plan.data_range == (98304, 114688)
    pieces = [stored[low:high] for low, high in plan.outboard_ranges]
    damaged = bytearray(data[slice(*plan.data_range)])
    damaged[5] ^= 1
    with pytest.raises(bao.MismatchError, match="rehashed data"):
        plan.build(root, pieces, bytes(damaged))
    with pytest.raises(ValueError, match="pieces"):
        plan.build(root, pieces[1:], data[slice(*plan.data_range)])
    with pytest.raises(ValueError, match="data"):
        plan.build(root, pieces, None)


def test_a_plan_for_a_huge_blob_reads_little() -> None:
    size = 1 << 40  # 1 TiB stored at shift 4: a 4 KiB window costs O(log n) pairs
    for shift in (0, 4, 10):
        plan = bao.ProofPlan(size, 4, shift, "pre_order", size // 3, size // 3 + 4096, max_gap=0)
        assert sum(high - low for low, high in plan.outboard_ranges) <= 40 * 64
        assert plan.proof_size <= 40 * 64
        assert (plan.data_range is not None) == (shift < 4)
