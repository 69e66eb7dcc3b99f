"""Checking local files against a bao (verify.local.check_file) and outboard files
(verify.outboard.Outboard): any shape of damage is located to its groups, nothing false is ever
called verified, and a wrong outboard is an error, not a damage report."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from baostore import bao
from baostore.open import open_store
from baostore.verify.local import FileCheck, NotAFileError, check_file
from baostore.verify.outboard import (
    OUTBOARD_FORMATS,
    Outboard,
    OutboardError,
    OutboardFormat,
    sizes_for_length,
)
from baostore.verify.ranges import Ranges
from baostore.verify.windowed import StoreBao
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import load_vectors, vector_input

SIZE = 1_000_003  # several windows' worth of groups at shift 0, not a multiple of any group


def blob(size: int = SIZE, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def groups_of(offsets: list[int], shift: int, size: int) -> Ranges:
    group = bao.group_size(shift)
    return Ranges.of((o // group * group, min(o // group * group + group, size)) for o in offsets)


def flipped(data: bytes, *offsets: int) -> bytes:
    damaged = bytearray(data)
    for offset in offsets:
        damaged[offset] ^= 0x40
    return bytes(damaged)


@pytest.fixture(scope="module")
def data() -> bytes:
    return blob()


# -- whole files ----------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0, 2, 4, 6])
def test_an_intact_file_is_complete(tmp_path: Path, data: bytes, shift: int) -> None:
    path = written(tmp_path / "f", data)
    outboard = Outboard.of_file(path, shift)
    assert outboard.digest == blake3(data).digest()
    for threads in (1, 3):
        check = check_file(path, outboard, threads=threads)
        assert check.complete
        assert check.verified == Ranges.span(0, SIZE)
        assert not check.damaged and not check.missing and not check.extra


@pytest.mark.parametrize("shift", [0, 2, 4, 6])
def test_damage_at_the_first_a_middle_and_the_last_group(
    tmp_path: Path, data: bytes, shift: int
) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), shift)
    damage = [0, SIZE // 2, SIZE - 1]
    path = written(tmp_path / "bad", flipped(data, *damage))
    check = check_file(path, outboard, threads=2)
    assert not check.complete
    # Exactly the groups holding damage, at the bao's own shift (a fine bao is checked coarse
    # first, then refined: that must not lose precision).
    assert check.damaged == groups_of(damage, shift, SIZE)
    assert check.verified == Ranges.span(0, SIZE) - check.damaged
    assert not check.missing


@settings(max_examples=40, deadline=None)
@given(
    shift=st.integers(0, 5),
    damage=st.lists(st.integers(0, 200_000 - 1), max_size=12, unique=True),
    threads=st.integers(1, 3),
)
def test_any_damage_is_found_to_its_groups(
    tmp_path_factory: pytest.TempPathFactory, shift: int, damage: list[int], threads: int
) -> None:
    data = blob(200_000, seed=shift)
    directory = tmp_path_factory.mktemp("damage")
    outboard = Outboard.of_file(written(directory / "good", data), shift)
    check = check_file(
        written(directory / "bad", flipped(data, *damage)), outboard, threads=threads
    )
    assert check.damaged == groups_of(damage, shift, len(data))
    assert check.complete == (not damage)


def test_a_sparse_file_with_holes(tmp_path: Path, data: bytes) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), 4)
    path = tmp_path / "sparse"
    with path.open("wb") as file:  # what a parallel range download leaves: holes between parts
        file.truncate(SIZE)
        for start, end in ((0, 100_000), (300_000, 700_000), (900_000, SIZE)):
            file.seek(start)
            file.write(data[start:end])
    check = check_file(path, outboard)
    group = outboard.group_size
    holes = Ranges.of([(100_000, 300_000), (700_000, 900_000)])
    # Every group touching a hole is damaged; every other one verified.
    expected_damage = Ranges.of(
        (s // group * group, min(-(-e // group) * group, SIZE)) for s, e in holes
    )
    assert check.damaged == expected_damage
    assert check.verified == Ranges.span(0, SIZE) - expected_damage
    assert check.file_size == SIZE and not check.missing


def test_a_blob_of_zeros_verifies_from_a_hole(tmp_path: Path) -> None:
    zeros = bytes(300_000)
    outboard = Outboard.from_bytes(
        blake3(zeros).digest(), bao.outboard(zeros, 4)[1], "pre_order", size=len(zeros)
    )
    path = tmp_path / "hole"
    with path.open("wb") as file:
        file.truncate(len(zeros))
    assert check_file(path, outboard).complete


@pytest.mark.parametrize("shift", [0, 2, 4])
def test_a_truncated_file(tmp_path: Path, data: bytes, shift: int) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), shift)
    cut = 600_000
    check = check_file(written(tmp_path / "short", data[:cut]), outboard)
    group = outboard.group_size
    assert check.verified == Ranges.span(0, cut // group * group)
    assert check.damaged == Ranges.span(cut // group * group, cut)  # the incomplete group
    assert check.missing == Ranges.span(cut, SIZE)
    assert not check.complete and check.file_size == cut


def test_an_extended_file(tmp_path: Path, data: bytes) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), 4)
    check = check_file(written(tmp_path / "long", data + b"tail"), outboard)
    assert check.verified == Ranges.span(0, SIZE)
    assert check.extra == 4
    assert not check.complete


def test_an_empty_blob(tmp_path: Path) -> None:
    outboard = Outboard.of_file(written(tmp_path / "empty", b""), 4)
    assert outboard.digest == blake3(b"").digest()
    assert check_file(tmp_path / "empty", outboard).complete
    extended = check_file(written(tmp_path / "x", b"x"), outboard)
    assert extended.extra == 1 and not extended.complete


# -- ranges of a blob ---------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0, 4])
@pytest.mark.parametrize(("start", "end"), [(0, 5000), (16384, 500_000), (1000, SIZE), (7, 9)])
def test_a_file_holding_a_range(
    tmp_path: Path, data: bytes, shift: int, start: int, end: int
) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), shift)
    path = written(tmp_path / "range", data[start:end])
    check = check_file(path, outboard, start=start, end=end)
    group = outboard.group_size
    # Groups cut by the range's ends cannot be checked from the file alone.
    first = -(-start // group) * group
    last = end if end == SIZE else end // group * group
    assert check.verified == Ranges.span(first, last)
    assert check.unverified == Ranges.span(start, end) - Ranges.span(first, last)
    if first < last:
        bad = check_file(
            written(tmp_path / "bad", flipped(data[start:end], first - start)),
            outboard,
            start=start,
            end=end,
        )
        assert bad.damaged == check.damaged | groups_of([first], shift, SIZE)


def test_a_range_outside_the_blob_is_refused(tmp_path: Path, data: bytes) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), 4)
    with pytest.raises(ValueError, match="not within"):
        check_file(tmp_path / "good", outboard, start=10, end=SIZE + 1)


# -- what is not a file -------------------------------------------------------------------


def test_a_directory_a_fifo_and_a_character_device_are_refused(tmp_path: Path) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", b"abc"), 4)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo, Path("/dev/null")):
        with pytest.raises(NotAFileError):
            check_file(path, outboard)
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "missing", outboard)


# -- a file that changes while it is checked ----------------------------------------------


def test_a_file_written_during_the_check_is_never_complete(tmp_path: Path, data: bytes) -> None:
    big = blob(40 << 20, seed=3)  # several windows, so the write lands mid-check
    path = written(tmp_path / "f", big)
    outboard = Outboard.of_file(path, 4)
    checked = 0

    def write_once(count: int) -> None:
        nonlocal checked
        checked += count
        if checked == count:  # after the first window: rewrite it with the same bytes
            with path.open("r+b") as file:
                file.write(big[:4096])

    check = check_file(path, outboard, threads=1, advance=write_once)
    assert check.changed and not check.complete
    assert check.verified == Ranges.span(0, len(big))  # the bytes themselves were the blob's


def test_a_file_cut_short_during_the_check_is_never_complete(tmp_path: Path) -> None:
    big = blob(40 << 20, seed=4)
    path = written(tmp_path / "f", big)
    outboard = Outboard.of_file(path, 4)

    def cut(count: int) -> None:
        del count
        os.truncate(path, 1 << 20)

    check = check_file(path, outboard, threads=1, advance=cut)
    assert check.changed and not check.complete


WRITER = """
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
os.pwrite(fd, os.urandom(65536), 0)
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:  # a busy writer: junk at random places, over and over
    os.pwrite(fd, os.urandom(65536), int.from_bytes(os.urandom(4), "little") % (size - 65536))
"""


def test_a_concurrent_writer_never_yields_a_false_complete(tmp_path: Path) -> None:
    """The file stops being the blob at the writer's first write and is written all the time
    after: whenever a check runs, whatever it reports, it is never "complete"."""
    big = blob(24 << 20, seed=5)
    path = written(tmp_path / "f", big)
    outboard = Outboard.of_file(path, 4)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(len(big))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for _ in range(5):
            check = check_file(path, outboard, threads=2)
            assert not check.complete
            assert check.changed or check.damaged
    finally:
        writer.kill()
        writer.wait()


def test_concurrent_checks_of_one_file_agree(tmp_path: Path, data: bytes) -> None:
    outboard = Outboard.of_file(written(tmp_path / "good", data), 0)
    path = written(tmp_path / "bad", flipped(data, 5, 500_000))
    results: list[FileCheck] = []

    def run() -> None:
        results.append(check_file(path, outboard, threads=2))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result.verified for result in results}) == 1


# -- outboards ----------------------------------------------------------------------------


@pytest.mark.parametrize("format", OUTBOARD_FORMATS)
def test_outboard_round_trip_in_every_format(
    tmp_path: Path, data: bytes, format: OutboardFormat
) -> None:
    shift = 0 if format == "bao" else 3
    outboard = Outboard.of_file(written(tmp_path / "f", data), shift)
    encoded = outboard.encode(format)
    size = None if format == "bao" else SIZE
    loaded = Outboard.from_bytes(outboard.digest, encoded, format, shift=shift, size=size)
    assert loaded == outboard
    if format == "leaves":
        assert len(encoded) == bao.outboard_size(SIZE, shift, "leaves")
    assert check_file(tmp_path / "f", loaded).complete


def test_the_bao_format_is_the_bao_clis(tmp_path: Path, data: bytes) -> None:
    outboard = Outboard.of_file(written(tmp_path / "f", data), 0)
    encoded = outboard.encode("bao")
    assert encoded[:8] == SIZE.to_bytes(8, "little")
    assert encoded[8:] == bao.outboard(data, 0)[1]
    with pytest.raises(ValueError, match="shift 0"):
        Outboard.of_file(tmp_path / "f", 4).encode("bao")


def test_outboard_of_stdin_is_streamed(data: bytes) -> None:
    code = (
        "import sys; from baostore.verify.outboard import Outboard; "
        "o = Outboard.of_file('-', 2); print(o.digest.hex(), o.size)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    )
    assert result.stdout.decode().split() == [blake3(data).hexdigest(), str(SIZE)]


@dataclass(frozen=True)
class Wrong:
    """An outboard that is not the blob's: made from the blob's shift-4 pre_order bao."""

    other_digest: bool = False
    cut: int = 0
    as_leaves: bool = False
    format: OutboardFormat = "pre_order"
    shift: int | None = 4
    size: int | None = SIZE


WRONG_OUTBOARDS = {
    "another blob": Wrong(other_digest=True),
    "another shift": Wrong(shift=3),
    "another size": Wrong(size=SIZE // 2),
    "truncated": Wrong(cut=64),
    "no size": Wrong(size=None),
    "leaves read as pre_order": Wrong(as_leaves=True),
    "not a bao CLI outboard": Wrong(format="bao", shift=None, size=None),
}


@pytest.mark.parametrize("why", sorted(WRONG_OUTBOARDS))
def test_a_wrong_outboard_is_an_error(data: bytes, why: str) -> None:
    wrong = WRONG_OUTBOARDS[why]
    digest = blake3(b"other" if wrong.other_digest else data).digest()
    _, ob = bao.outboard(data, 4)
    if wrong.as_leaves:
        ob = bao.convert_format(ob, SIZE, 4, "pre_order", "leaves")
    with pytest.raises(OutboardError):
        Outboard.from_bytes(
            digest, ob[: len(ob) - wrong.cut], wrong.format, shift=wrong.shift, size=wrong.size
        )


def test_a_wrong_size_of_the_same_tree_leaves_the_last_group_unverified(
    tmp_path: Path, data: bytes
) -> None:
    """Parents do not encode lengths: a bao checks out for any size with the same tree shape,
    and only the last group tells. A file checked against such a size is partial, not complete."""
    path = written(tmp_path / "f", data)
    for size in (SIZE - 1, SIZE + 1):
        outboard = Outboard.from_bytes(
            blake3(data).digest(), bao.outboard(data, 4)[1], "pre_order", size=size
        )
        check = check_file(path, outboard)
        group = outboard.group_size
        assert check.verified == Ranges.span(0, (SIZE - 1) // group * group)
        assert not check.complete


@pytest.mark.parametrize("shift", [4, 6])
def test_damage_inside_the_outboard_is_an_error_not_a_verdict(
    tmp_path: Path, data: bytes, shift: int
) -> None:
    path = written(tmp_path / "f", data)
    outboard = Outboard.of_file(path, shift)
    pre_order = bytearray(outboard.pre_order)
    pre_order[len(pre_order) // 2] ^= 1  # deep in the tree
    with pytest.raises(OutboardError, match="does not match"):
        Outboard.from_bytes(outboard.digest, bytes(pre_order), "pre_order", shift=shift, size=SIZE)
    # A bao from elsewhere (a Stat answer is checked where it is received) is checked again,
    # window by window, as it is used.
    unchecked = Outboard(outboard.digest, SIZE, shift, bytes(pre_order))
    with pytest.raises(OutboardError, match="does not match"):
        check_file(path, unchecked)


@settings(max_examples=30, deadline=None)
@given(node=st.integers(0, 10**6), damage=st.lists(st.integers(0, SIZE - 1), max_size=4))
def test_a_damaged_fine_outboard_never_vouches_for_damaged_data(
    tmp_path_factory: pytest.TempPathFactory, node: int, damage: list[int]
) -> None:
    """A shift-0 bao is checked at shift 4 first (its finer nodes unused until a coarse group
    fails): even a damaged one that got past the load-time check would never vouch for damaged
    data."""
    data = blob()
    directory = tmp_path_factory.mktemp("fine")
    outboard = Outboard.of_file(written(directory / "good", data), 0)
    pre_order = bytearray(outboard.pre_order)
    pre_order[node % len(pre_order)] ^= 1
    damaged = Outboard(outboard.digest, SIZE, 0, bytes(pre_order))  # not checked at load
    try:
        check = check_file(written(directory / "bad", flipped(data, *set(damage))), damaged)
    except OutboardError:
        return
    assert not check.verified & groups_of(damage, 0, SIZE)


def test_sizes_for_length() -> None:
    group = bao.group_size(4)
    assert sizes_for_length(0, 4, "pre_order") == (0, group)
    assert sizes_for_length(64, 4, "pre_order") == (group + 1, 2 * group)
    assert sizes_for_length(64, 4, "leaves") == (group + 1, 2 * group)
    low, high = sizes_for_length(65, 4, "pre_order")
    assert low > high
    low, high = sizes_for_length(32, 4, "leaves")
    assert low > high
    for size in (1, group, group + 1, 5 * group - 1, 5 * group):
        for format in ("pre_order", "leaves"):
            low, high = sizes_for_length(bao.outboard_size(size, 4, format), 4, format)
            assert low <= size <= high


# -- the vectors --------------------------------------------------------------------------


@pytest.mark.parametrize(("shift", "file_name"), [(0, "bao-shift0.json"), (4, "abao-shift4.json")])
def test_vectors(tmp_path: Path, shift: int, file_name: str) -> None:
    """Outboards as the bao crate writes them (size-prefixed), the files they describe, and
    every corruption the vectors list: located (data) or refused (outboard)."""
    for case in load_vectors(file_name)["outboard"]:
        size = case["input_len"]
        data = vector_input(size)
        path = written(tmp_path / f"in{size}", data)
        computed = Outboard.of_file(path, shift)
        prefixed = size.to_bytes(8, "little") + computed.pre_order
        assert blake3(prefixed).hexdigest() == case["encoded_blake3"]
        assert computed.digest.hex() == case["bao_hash"]
        if shift == 0:
            assert computed.encode("bao") == prefixed
            loaded = Outboard.from_bytes(computed.digest, prefixed, "bao")
        else:
            loaded = Outboard.from_bytes(computed.digest, prefixed[8:], "pre_order", size=size)
        assert check_file(path, loaded).complete
        for offset in case["input_corruptions"]:
            bad = written(tmp_path / "bad", flipped(data, offset))
            check = check_file(bad, loaded)
            assert not check.complete
            assert offset in {o for s, e in check.damaged for o in range(s, e)}
        for offset in case["outboard_corruptions"]:
            damaged = bytearray(prefixed)
            damaged[offset] ^= 1
            assert _refused_or_partial(path, computed.digest, bytes(damaged), shift, size)


def _refused_or_partial(path: Path, digest: bytes, prefixed: bytes, shift: int, size: int) -> bool:
    """A damaged outboard is an OutboardError, or (a size prefix that changed to a size of the
    same tree) leaves the file reported as not complete: never verified."""
    try:
        if shift == 0:
            outboard = Outboard.from_bytes(digest, prefixed, "bao")
        else:
            stated = int.from_bytes(prefixed[:8], "little")
            outboard = Outboard.from_bytes(digest, prefixed[8:], "pre_order", shift=4, size=stated)
        return not check_file(path, outboard).complete
    except OutboardError:
        return True


def test_the_bao_of_a_store_checks_a_local_file(tmp_path: Path, data: bytes) -> None:
    """The README's way for open_store users: the bao from a store, the file from anywhere."""
    store = open_store((tmp_path / "store").as_uri())
    digest = store.put(data)
    outboard = StoreBao.open(store, digest, shift=2)
    assert outboard is not None and outboard.shift == 2
    assert check_file(written(tmp_path / "f", data), outboard).complete
    check = check_file(written(tmp_path / "bad", flipped(data, 5000)), outboard)
    assert check.damaged == groups_of([5000], 2, SIZE)
    assert StoreBao.open(store, blake3(b"absent").digest()) is None
