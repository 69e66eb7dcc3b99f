"""Property tests for checking untrusted ranged Stat answers (window_from_stat).

For any size, shift, format and asked range, the honest answer is a Window whose verifier hands
on exactly the window's true bytes; a flipped bit of the proof, a proof for another window, a
wrong size, another window than asked, or chunks that do not cover the window are refused, or
(for a size lie the window's proof cannot tell) verify no byte that is not the blob's.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from baostore import bao
from baostore.errors import VerificationError
from baostore.store.interface import ByteRange, ChunkMeta, Stat
from baostore.verify.layout import ReadOptions, Window, window_from_stat
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=120, deadline=None)


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, ReadOptions, ByteRange, Stat]:
    """A blob, the options and range of a ranged Stat, and the honest answer to it."""
    size = draw(st.integers(1, 200_000))
    data = random.Random(size).randbytes(size)
    shift = draw(st.integers(0, 5))
    bao_format = draw(st.sampled_from(bao.FORMATS))
    start = draw(st.integers(0, size - 1))
    end = draw(st.one_of(st.none(), st.integers(start + 1, size + 5000)))
    asked = ByteRange(start, end)
    window = bao.window(size, shift, start, size if end is None else min(end, size))
    # An honest server may answer a shorter window (it must cover the first asked group).
    group = bao.group_size(shift)
    first_end = min(window[0] + group, size)
    short_end = draw(st.sampled_from([window[1], first_end]))
    window = (window[0], short_end)
    _, outboard = bao.outboard(data, shift, bao_format)
    proof = bao.window_proof(outboard, size, shift, bao_format, *window)
    chunk_size = draw(st.integers(1, 70_000))
    chunks_offset = window[0] - window[0] % chunk_size
    cuts = list(range(chunks_offset, window[1], chunk_size))
    chunks = tuple(
        ChunkMeta(bao.hash(data[cut : min(cut + chunk_size, size)]), min(chunk_size, size - cut))
        for cut in cuts
    )
    stat = Stat(
        size=size,
        chunks=chunks,
        bao=proof,
        bao_shift=shift,
        bao_format=bao_format,
        window=window,
        chunks_offset=chunks_offset,
    )
    return data, ReadOptions(bao_shift=shift, bao_format=bao_format), asked, stat


def verified_bytes(window: Window, data: bytes) -> bytes:
    """What the window's verifier hands on when fed the blob's true bytes of the window."""
    verifier = window.verifier()
    try:
        return verifier.update(data[window.start : window.end]) + verifier.finalize()
    except bao.BaoError:
        return b""


@PROPERTIES
@given(answers())
def test_an_honest_answer_verifies_exactly_its_window(
    answer: tuple[bytes, ReadOptions, ByteRange, Stat],
) -> None:
    data, options, asked, stat = answer
    window = window_from_stat(bao.hash(data), stat, options, asked)
    assert stat.window == (window.start, window.end)
    assert verified_bytes(window, data) == data[window.start : window.end]
    assert window.spans[0].offset <= window.start and window.spans[-1].end >= window.end


@PROPERTIES
@given(answers(), st.data())
def test_a_flipped_proof_bit_is_refused(
    answer: tuple[bytes, ReadOptions, ByteRange, Stat], data: st.DataObject
) -> None:
    blob, options, asked, stat = answer
    if not stat.bao:
        return
    bit = data.draw(st.integers(0, len(stat.bao) * 8 - 1))
    flipped = bytearray(stat.bao)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VerificationError):
        window_from_stat(bao.hash(blob), replace(stat, bao=bytes(flipped)), options, asked)


@PROPERTIES
@given(answers(), st.integers(-40_000, 40_000).filter(lambda delta: delta != 0))
def test_a_wrong_size_never_verifies_a_false_byte(
    answer: tuple[bytes, ReadOptions, ByteRange, Stat], delta: int
) -> None:
    data, options, asked, stat = answer
    lie = replace(stat, size=max(0, stat.size + delta))
    try:
        window = window_from_stat(bao.hash(data), lie, options, asked)
    except VerificationError:
        return
    # The window's proof cannot tell sizes of the same tree shape apart: then its bytes still
    # verify only as the blob's own (the last group, where the sizes differ, fails).
    released = verified_bytes(window, data)
    assert released == data[window.start : window.start + len(released)]


@PROPERTIES
@given(answers(), st.integers(1, 6))
def test_another_windows_proof_or_window_is_refused(
    answer: tuple[bytes, ReadOptions, ByteRange, Stat], groups: int
) -> None:
    data, options, asked, stat = answer
    assert stat.window is not None
    start = stat.window[0]
    moved = start + groups * bao.group_size(stat.bao_shift)
    if moved >= stat.size:
        return
    _, outboard = bao.outboard(data, stat.bao_shift, stat.bao_format)
    other = bao.window(stat.size, stat.bao_shift, moved, stat.size)
    other_proof = bao.window_proof(outboard, stat.size, stat.bao_shift, stat.bao_format, *other)
    if other_proof != stat.bao:  # (in a tiny tree two windows may share one proof)
        with pytest.raises(VerificationError):  # the window's claim, another window's proof
            window_from_stat(bao.hash(data), replace(stat, bao=other_proof), options, asked)
    with pytest.raises(VerificationError):  # another window, with its own proof
        window_from_stat(
            bao.hash(data),
            replace(stat, bao=other_proof, window=other, chunks_offset=0, chunks=()),
            options,
            asked,
        )


@PROPERTIES
@given(answers())
def test_chunks_that_do_not_cover_the_window_are_refused(
    answer: tuple[bytes, ReadOptions, ByteRange, Stat],
) -> None:
    data, options, asked, stat = answer
    assert stat.window is not None
    if len(stat.chunks) < 2:
        return
    short = replace(stat, chunks=stat.chunks[:-1])
    if stat.chunks_offset + sum(chunk.size for chunk in short.chunks) < stat.window[1]:
        with pytest.raises(VerificationError, match="chunks end at"):
            window_from_stat(bao.hash(data), short, options, asked)
    late = replace(stat, chunks_offset=stat.chunks_offset + stat.chunks[0].size)
    if late.chunks_offset > stat.window[0]:
        with pytest.raises(VerificationError, match="chunks start at"):
            window_from_stat(bao.hash(data), late, options, asked)
