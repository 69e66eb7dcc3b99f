"""baostore.bao at its edges: bad input, buffer types, GIL release, no panics."""

from __future__ import annotations

import array
import contextlib
import mmap
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from baostore import _bao, bao
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

SHIFT = 2
GROUP = bao.group_size(SHIFT)
DATA = bytes(range(256)) * (GROUP * 5 // 256 + 3)  # 5 groups and a partial one
ROOT, OB = bao.outboard(DATA, SHIFT)


def test_exception_is_a_value_error_from_the_native_module() -> None:
    assert issubclass(bao.BaoError, ValueError)
    assert bao.BaoError is _bao.BaoError
    assert bao.BaoError.__module__ == "baostore._bao"
    for kind in (bao.MismatchError, bao.MalformedBaoError):
        assert issubclass(kind, bao.BaoError)
        assert kind.__module__ == "baostore._bao"


def test_the_facade_re_exports_the_native_types() -> None:
    # A thin binding: the Rust classes are the public types, not wrappers around them.
    for name in ("Hasher", "OutboardBuilder", "PostOrderBuilder", "ProofPlan", "Verifier"):
        assert getattr(bao, name) is getattr(_bao, name)
    assert set(_bao.__all__) <= set(bao.__all__)


def rejects_argument(name: str) -> AbstractContextManager[pytest.ExceptionInfo[ValueError]]:
    """A bad argument is a plain ValueError naming it, never a BaoError (which means bad data)."""
    return pytest.raises(ValueError, match=name)


def assert_not_bao_error(info: pytest.ExceptionInfo[ValueError]) -> None:
    assert not isinstance(info.value, bao.BaoError), info.value


def test_constants_and_group_size() -> None:
    assert bao.MAX_SHIFT == _bao.MAX_SHIFT >= 20
    assert [bao.group_size(s) for s in (0, 4, 10)] == [1024, 16384, 1 << 20]


@pytest.mark.parametrize("root", [b"", b"x" * 31, b"x" * 33, bytearray(64)])
def test_root_must_be_32_bytes(root: bytes) -> None:
    with rejects_argument("root must be 32 bytes") as info:
        bao.Verifier(root, len(DATA), OB, SHIFT)
    assert_not_bao_error(info)


@pytest.mark.parametrize("shift", [-1, bao.MAX_SHIFT + 1, 255, 256, 10**30, -(10**30)])
def test_bad_shifts_are_rejected(shift: int) -> None:
    checks: list[Callable[[], object]] = [
        lambda: bao.outboard(b"abc", shift),
        lambda: bao.outboard_size(10, shift),
        lambda: bao.group_size(shift),
        lambda: bao.OutboardBuilder(shift),
        lambda: bao.Verifier(ROOT, len(DATA), OB, shift),
        lambda: bao.coarsen(OB, len(DATA), SHIFT, shift),
        lambda: bao.coarsen(OB, len(DATA), shift, SHIFT),
        lambda: bao.convert_format(OB, len(DATA), shift, "pre_order", "leaves"),
    ]
    for check in checks:
        with rejects_argument("shift") as info:
            check()
        assert_not_bao_error(info)


def test_shift_must_be_an_int() -> None:
    for shift in (4.0, "4", None, True):
        with pytest.raises(TypeError, match="shift must be an int"):
            bao.outboard(b"abc", shift)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_format", ["preorder", "", "LEAVES", "post_order"])
def test_bad_format_names_are_rejected_with_the_choices(bad_format: str) -> None:
    checks: list[Callable[[], object]] = [
        lambda: bao.outboard(b"abc", 4, bad_format),  # type: ignore[arg-type]
        lambda: bao.OutboardBuilder(4, bad_format),  # type: ignore[arg-type]
        lambda: bao.Verifier(ROOT, len(DATA), OB, SHIFT, bad_format),  # type: ignore[arg-type]
        lambda: bao.convert_format(OB, len(DATA), SHIFT, "pre_order", bad_format),  # type: ignore[arg-type]
        lambda: _bao.outboard(b"abc", 4, bad_format),  # type: ignore[arg-type]
    ]
    for check in checks:
        with rejects_argument("format.*pre_order") as info:
            check()
        assert_not_bao_error(info)


@pytest.mark.parametrize("size", [0, len(DATA) - GROUP * 2, len(DATA) + GROUP * 2, 1 << 50])
def test_size_inconsistent_with_bao_length(size: int) -> None:
    with pytest.raises(bao.MalformedBaoError):
        bao.Verifier(ROOT, size, OB, SHIFT)


@pytest.mark.parametrize("size", [-1, 1 << 64])
def test_out_of_range_sizes(size: int) -> None:
    with rejects_argument("size"):
        bao.Verifier(ROOT, size, OB, SHIFT)
    with rejects_argument("size"):
        bao.outboard_size(size)


def test_malformed_bao_length_is_rejected() -> None:
    for damaged in (OB[:-1], OB + b"\0", OB[:-64], b""):
        with pytest.raises(bao.MalformedBaoError):
            bao.Verifier(ROOT, len(DATA), damaged, SHIFT)
        with pytest.raises(bao.MalformedBaoError):
            bao.coarsen(damaged, len(DATA), SHIFT, SHIFT + 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [(1, None), (GROUP - 1, None), (0, GROUP + 1), (GROUP, 2 * GROUP - 1), (0, len(DATA) - 1)],
)
def test_unaligned_windows_are_rejected(start: int, end: int | None) -> None:
    with rejects_argument("start|end"):
        bao.Verifier(ROOT, len(DATA), OB, SHIFT, start=start, end=end)


@pytest.mark.parametrize(
    ("start", "end"), [(2 * GROUP, GROUP), (0, len(DATA) + GROUP), (-GROUP, None)]
)
def test_inverted_or_outside_windows_are_rejected(start: int, end: int | None) -> None:
    with rejects_argument("start|end"):
        bao.Verifier(ROOT, len(DATA), OB, SHIFT, start=start, end=end)


def test_bad_thread_counts() -> None:
    for threads in (0, -1, 10**6):
        with rejects_argument("threads"):
            bao.outboard(DATA, SHIFT, threads=threads)


def non_contiguous_views() -> Iterator[memoryview]:
    yield memoryview(DATA)[::2]
    yield memoryview(bytearray(DATA))[1::3]
    yield memoryview(array.array("I", range(1000)))[::2]


def test_non_contiguous_buffers_are_rejected() -> None:
    for view in non_contiguous_views():
        with rejects_argument("contiguous"):
            bao.hash(view)
        with rejects_argument("contiguous"):
            bao.outboard(view)
        with rejects_argument("contiguous"):
            bao.OutboardBuilder().update(view)
        with rejects_argument("contiguous"):
            bao.Verifier(ROOT, len(DATA), OB, SHIFT).update(view)


def test_non_buffers_are_a_type_error() -> None:
    for value in ("text", 12, None, [1, 2]):
        with pytest.raises(TypeError, match="bytes-like"):
            bao.hash(value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bytes-like"):
            bao.outboard(value)  # type: ignore[arg-type]


def test_every_kind_of_buffer_gives_the_same_result(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        buffers: list[object] = [
            DATA,
            bytearray(DATA),
            memoryview(DATA),
            memoryview(DATA)[GROUP:][: len(DATA) - GROUP],
            mapped,
            array.array("B", DATA),
            array.array("I", DATA[: len(DATA) // 4 * 4]),  # items wider than a byte
            memoryview(DATA[: 64 * 16]).cast("B", (64, 16)),  # 2-D, C-contiguous
        ]
        for buffer in buffers:
            expected = bytes(memoryview(buffer).cast("B"))  # type: ignore[arg-type]
            assert bao.hash(buffer) == blake3(expected).digest()  # type: ignore[arg-type]
            assert bao.outboard(buffer, SHIFT) == bao.outboard(expected, SHIFT)  # type: ignore[arg-type]
            root, ob = bao.outboard(expected, SHIFT)
            verifier = bao.Verifier(bytearray(root), len(expected), memoryview(ob), SHIFT)
            assert verifier.update(buffer) + verifier.finalize() == expected  # type: ignore[arg-type]


def test_verifier_stays_failed_after_an_error() -> None:
    verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    assert verifier.update(DATA[:GROUP]) == DATA[:GROUP]
    damaged = bytearray(DATA[GROUP : 2 * GROUP])
    damaged[5] ^= 0x10
    with pytest.raises(bao.BaoError):
        verifier.update(damaged)
    # Even the right bytes are refused now, and so is finalize().
    with pytest.raises(bao.BaoError):
        verifier.update(DATA[GROUP:])
    with pytest.raises(bao.BaoError):
        verifier.finalize()
    assert verifier.released == GROUP


def test_verifier_errors_say_where() -> None:
    damaged = bytearray(DATA)
    damaged[3 * GROUP + 7] ^= 1
    verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    with pytest.raises(bao.BaoError) as caught:
        verifier.update(damaged)
    message = str(caught.value)
    assert str(3 * GROUP) in message or "group 3" in message, message


def test_short_and_long_streams() -> None:
    short = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    short.update(DATA[:-1])
    with pytest.raises(bao.BaoError, match="short"):
        short.finalize()
    long = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    with pytest.raises(bao.BaoError, match="long"):
        long.update(DATA + b"!")


def test_builder_cannot_be_finalized_twice() -> None:
    builder = bao.OutboardBuilder(SHIFT)
    builder.update(DATA)
    assert builder.size == len(DATA)
    assert builder.finalize() == (ROOT, OB)
    with pytest.raises(ValueError, match="finalized"):
        builder.finalize()
    with pytest.raises(ValueError, match="finalized"):
        builder.update(b"more")
    post = bao.PostOrderBuilder(SHIFT)
    post.finalize()
    with pytest.raises(ValueError, match="finalized"):
        post.update(b"more")


def test_verifier_counters() -> None:
    verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    released = verifier.update(DATA[: GROUP + 10])
    assert (verifier.received, verifier.released) == (GROUP + 10, len(released))
    rest = verifier.update(DATA[GROUP + 10 :]) + verifier.finalize()
    assert released + rest == DATA
    assert (verifier.received, verifier.released) == (len(DATA), len(DATA))


def test_cdc_arguments_are_checked() -> None:
    for sizes in [(0, 0, 0), (4096, 1024, 65536), (1024, 4096, 2048), (-1, 4096, 65536)]:
        with rejects_argument("size"):
            bao.cdc_cut_lengths(DATA, *sizes, final=True)


GIL_HOLDING_SWITCH_INTERVAL = 5.0  # seconds: far longer than any measured call, so threads
# switch only where the GIL is given up, yet short enough not to stall other threads for long


def other_thread_progress(work: Callable[[], object], calls: int, enough: int | None = None) -> int:
    """How often a counting thread got to run while ``work`` ran, summed over up to ``calls``
    calls (stopping early once the sum reaches ``enough``).

    With a long switch interval the interpreter never takes the GIL away from this thread, so the
    counter can only move while ``work`` itself releases the GIL: the count is exact, not timed,
    and a busy machine only makes the loop run longer.
    """
    count = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1
            time.sleep(0.0001)  # gives up the GIL so this thread never starves the main one

    previous = sys.getswitchinterval()
    sys.setswitchinterval(GIL_HOLDING_SWITCH_INTERVAL)
    thread = threading.Thread(target=counter, daemon=True)
    try:
        thread.start()
        progress = 0
        for _ in range(calls):
            before = count
            work()
            progress += count - before
            if enough is not None and progress >= enough:
                break
        return progress
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(previous)


BIG = bytes(range(251)) * (16 * 1024 * 1024 // 251)


def test_gil_progress_measure_sees_a_gil_holding_call() -> None:
    # Control: comparing two big bytes objects holds the GIL, so the counter must not move.
    other = bytearray(BIG)
    assert other_thread_progress(lambda: other == BIG, calls=20) == 0


def test_gil_is_released_for_large_inputs() -> None:
    root, ob = bao.outboard(BIG, 4)

    def verify() -> None:
        verifier = bao.Verifier(root, len(BIG), ob, 4)
        verifier.update(BIG)
        verifier.finalize()

    def build() -> None:
        builder = bao.OutboardBuilder(4)
        builder.update(BIG)
        builder.finalize()

    def check() -> None:
        bao.Verifier(root, len(BIG), ob, 4).check(memoryview(BIG))

    for work in (
        lambda: bao.hash(BIG),
        lambda: bao.outboard(BIG, 4),
        lambda: bao.outboard(BIG, 4, threads=2),
        lambda: bao.PostOrderBuilder(4).update(BIG),
        verify,
        check,
        build,
    ):
        assert other_thread_progress(work, calls=200, enough=5) >= 5


def test_small_inputs_keep_the_gil() -> None:
    small = BIG[:1024]
    assert other_thread_progress(lambda: [bao.hash(small) for _ in range(2000)], calls=5) == 0


@settings(max_examples=200, deadline=None)
@given(
    root=st.binary(max_size=40),
    size=st.integers(min_value=0, max_value=1 << 64),
    ob=st.binary(max_size=300),
    shift=st.integers(min_value=0, max_value=40),
    start=st.integers(min_value=0, max_value=1 << 64),
    end=st.none() | st.integers(min_value=0, max_value=1 << 64),
    data=st.binary(max_size=3000),
)
def test_garbage_never_panics(
    root: bytes, size: int, ob: bytes, shift: int, start: int, end: int | None, data: bytes
) -> None:
    # Only clear errors: pyo3's PanicException is a BaseException, so it would escape here.
    # Garbage is refused as bad data (BaoError) or as a bad argument (ValueError).
    try:
        verifier = bao.Verifier(root, size, ob, shift, "leaves", start, end)
        released = verifier.update(data) + verifier.finalize()
    except ValueError:
        pass
    else:  # accepted input must be released whole and, for the whole blob, be what root names
        assert released == data
        if start == 0 and end in (None, size):
            assert bao.hash(data) == root
    for call in (
        lambda: bao.coarsen(ob, size, shift, shift + 1, "leaves"),
        lambda: bao.coarsen(ob, size, shift, shift + 2, "pre_order"),
        lambda: bao.convert_format(ob, size, shift, "leaves", "pre_order"),
        lambda: bao.convert_format(ob, size, shift, "pre_order", "leaves"),
        lambda: bao.outboard_size(size, shift, "leaves"),
        lambda: bao.cdc_cut_lengths(data, start % 70000, size % 70000, (end or 0) % 300000, True),
    ):
        with contextlib.suppress(ValueError):
            call()


def test_released_counts_only_bytes_returned() -> None:
    damaged = bytearray(DATA)
    damaged[3 * GROUP + 7] ^= 1
    verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    first = verifier.update(damaged[:GROUP])
    with pytest.raises(bao.BaoError):
        verifier.update(damaged[GROUP:])  # groups 1 and 2 verify, but the call fails as a whole
    assert verifier.released == len(first) == GROUP


def test_group_aligned_bytes_feeds_are_returned_without_a_copy() -> None:
    verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    aligned = DATA[: 2 * GROUP]
    assert verifier.update(aligned) is aligned
    unaligned = DATA[2 * GROUP : 3 * GROUP + 1]
    assert verifier.update(unaligned) == DATA[2 * GROUP : 3 * GROUP]
    rest = DATA[3 * GROUP + 1 :]
    assert verifier.update(rest) + verifier.finalize() == DATA[3 * GROUP :]
    view_verifier = bao.Verifier(ROOT, len(DATA), OB, SHIFT)
    as_bytearray = bytearray(aligned)
    released = view_verifier.update(as_bytearray)
    assert type(released) is bytes and released == aligned  # a mutable buffer is copied
