"""Property tests for checking untrusted Stat answers (layout_from_stat, spans_from_chunks).

Whatever a source claims (sizes up to 2^64 and beyond, shifts 0..255, unknown formats, baos of
any length, chunk lists with sizes of 0, negative or huge), the answer is either a layout whose
spans tile ``[0, size)`` with a bao of exactly the expected length, or a VerificationError; and
checking it never allocates by a claimed size (traced Python allocations stay small).
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator, Sequence

import pytest
from baostore import bao
from baostore.errors import VerificationError
from baostore.store.interface import BaoFormat, ChunkMeta, Stat
from baostore.verify.layout import (
    ChunkSpan,
    ReadOptions,
    Window,
    layout_from_stat,
    spans_from_chunks,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=150, deadline=None)
HUGE = 2**64
SIZES = st.one_of(
    st.integers(0, 5000),
    st.sampled_from([1024, 1025, 16384, 16385, 2**32, 2**63, HUGE - 1, HUGE, HUGE + 1]),
    st.integers(0, HUGE + 1),
)
SHIFTS = st.one_of(st.integers(0, 6), st.integers(0, 255), st.integers(-3, -1))
ANSWERED_FORMATS = st.sampled_from(["pre_order", "leaves", "post_order", "", "PRE_ORDER"])
OPTIONS = st.builds(
    ReadOptions,
    bao_shift=st.integers(0, bao.MAX_SHIFT),
    bao_format=st.sampled_from(bao.FORMATS),
)
DIGESTS = st.binary(min_size=32, max_size=32)
CHUNK_SIZES = st.one_of(
    st.integers(1, 3000), st.sampled_from([0, -1, -(2**63), HUGE - 1, HUGE]), st.integers()
)
CHUNKS = st.lists(
    st.builds(
        ChunkMeta,
        digest=st.one_of(DIGESTS, st.binary(max_size=40)),
        size=CHUNK_SIZES,
    ),
    max_size=8,
).map(tuple)
# Generous for a check of a few KiB of input, tiny next to any size it might be told.
ALLOCATION_LIMIT = 1 << 20


def assert_tiles(layout_size: int, spans: Sequence[ChunkSpan]) -> None:
    offset = 0
    for span in spans:
        assert span.offset == offset and span.size > 0
        offset = span.end
    assert offset == layout_size


def assert_well_formed(layout: Window, stat: Stat, options: ReadOptions) -> None:
    assert layout.size == stat.size and layout.bao_format == options.bao_format
    assert len(layout.proof) == bao.outboard_size(layout.size, layout.bao_shift, layout.bao_format)
    assert_tiles(layout.size, layout.spans)


def checked_within_memory(digest: bytes, stat: Stat, options: ReadOptions) -> Window | None:
    """The layout, or None after a VerificationError; fails on any other exception."""
    tracemalloc.start()
    try:
        return layout_from_stat(digest, stat, options)
    except VerificationError:
        return None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < ALLOCATION_LIMIT + len(stat.bao), peak


@st.composite
def outboards(draw: st.DrawFn, size: int, shift: int, bao_format: str) -> bytes:
    """Random bytes: of exactly the expected length when that is small, to pass the length check."""
    try:
        expected = bao.outboard_size(size, shift, bao_format)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        expected = None
    if expected is not None and expected <= 4096 and draw(st.booleans()):
        return draw(st.binary(min_size=expected, max_size=expected))
    return draw(st.binary(max_size=256))


@PROPERTIES
@given(
    data=st.data(),
    digest=DIGESTS,
    size=SIZES,
    shift=SHIFTS,
    bao_format=ANSWERED_FORMATS,
    chunks=CHUNKS,
    options=OPTIONS,
)
def test_random_stat_answers_are_a_layout_or_a_verification_error(
    data: st.DataObject,
    digest: bytes,
    size: int,
    shift: int,
    bao_format: str,
    chunks: tuple[ChunkMeta, ...],
    options: ReadOptions,
) -> None:
    outboard = data.draw(outboards(size, shift, bao_format))
    inline = data.draw(st.none() | st.binary(max_size=64))
    stat = Stat(size, chunks, outboard, shift, bao_format, inline)  # type: ignore[arg-type]
    layout = checked_within_memory(digest, stat, options)
    event("accepted" if layout is not None else "refused")
    if layout is not None:
        assert_well_formed(layout, stat, options)


def partitions(size: int) -> st.SearchStrategy[list[int]]:
    """Positive sizes summing to ``size`` (no chunks at all is a partition too)."""

    def cut(points: list[int]) -> list[int]:
        edges = [0, *sorted(set(points)), size]
        return [end - start for start, end in itertools.pairwise(edges)]

    if size <= 1:
        return st.sampled_from([[], [size] if size else []])
    return st.one_of(st.just([]), st.lists(st.integers(1, size - 1), max_size=6).map(cut))


@st.composite
def real_answers(draw: st.DrawFn) -> tuple[bytes, Stat, ReadOptions, bytes]:
    """An honest Stat of a random blob: bao at the asked format, any shift up to the asked one
    (coarser shifts are allowed up to 14), chunks tiling the blob. Returns the blob too."""
    blob = draw(st.binary(max_size=6000))
    options = draw(OPTIONS)
    shift = draw(st.integers(0, 6))
    root, outboard = bao.outboard(blob, shift, options.bao_format)
    sizes = draw(partitions(len(blob)))
    chunks, offset = [], 0
    for chunk_size in sizes:
        chunks.append(ChunkMeta(bao.hash(blob[offset : offset + chunk_size]), chunk_size))
        offset += chunk_size
    inline = blob if draw(st.booleans()) else None
    stat = Stat(len(blob), tuple(chunks), outboard, shift, options.bao_format, inline)
    return root, stat, options, blob


@PROPERTIES
@given(answer=real_answers())
def test_honest_answers_give_the_layout_they_describe(
    answer: tuple[bytes, Stat, ReadOptions, bytes],
) -> None:
    root, stat, options, blob = answer
    layout = checked_within_memory(root, stat, options)
    assert layout is not None
    assert_well_formed(layout, stat, options)
    assert [span.size for span in layout.spans] == [chunk.size for chunk in stat.chunks] or (
        not stat.chunks and [span.size for span in layout.spans] == ([len(blob)] if blob else [])
    )
    verifier = layout.verifier()
    assert verifier.update(blob) + verifier.finalize() == blob


def lies(stat: Stat, data: st.DataObject) -> Iterator[tuple[str, Stat]]:
    """Each way of changing one thing in an honest answer that the checks must catch."""
    if stat.bao:
        flipped = bytearray(stat.bao)
        position = data.draw(st.integers(0, len(flipped) - 1))
        flipped[position] ^= 1 << data.draw(st.integers(0, 7))
        yield (
            "a flipped bao bit",
            Stat(stat.size, stat.chunks, bytes(flipped), stat.bao_shift, stat.bao_format),
        )
    yield (
        "a longer bao",
        Stat(stat.size, stat.chunks, stat.bao + b"\0" * 64, stat.bao_shift, stat.bao_format),
    )
    other: BaoFormat = "leaves" if stat.bao_format == "pre_order" else "pre_order"
    yield "another format", Stat(stat.size, stat.chunks, stat.bao, stat.bao_shift, other)
    if stat.chunks:
        index = data.draw(st.integers(0, len(stat.chunks) - 1))
        chunk = stat.chunks[index]
        grown = (
            *stat.chunks[:index],
            ChunkMeta(chunk.digest, chunk.size + 1),
            *stat.chunks[index + 1 :],
        )
        yield (
            "a chunk one byte longer",
            Stat(stat.size, grown, stat.bao, stat.bao_shift, stat.bao_format),
        )
        yield (
            "a chunk missing",
            Stat(stat.size, stat.chunks[:-1], stat.bao, stat.bao_shift, stat.bao_format),
        )


@PROPERTIES
@given(answer=real_answers(), data=st.data(), other_digest=DIGESTS)
def test_one_lie_in_an_honest_answer_is_a_verification_error(
    answer: tuple[bytes, Stat, ReadOptions, bytes], data: st.DataObject, other_digest: bytes
) -> None:
    root, stat, options, _ = answer
    for lie, told in lies(stat, data):
        if lie == "a chunk missing" and len(stat.chunks) == 1:
            continue  # no chunks at all is honest: the blob is one span
        with pytest.raises(VerificationError):
            layout_from_stat(root, told, options)
    if stat.bao:  # a single-group blob's empty bao says nothing about the digest
        with pytest.raises(VerificationError):
            layout_from_stat(other_digest, stat, options)


@PROPERTIES
@given(digest=DIGESTS, size=SIZES, chunks=CHUNKS)
def test_chunk_lists_tile_the_blob_or_are_refused(
    digest: bytes, size: int, chunks: tuple[ChunkMeta, ...]
) -> None:
    try:
        spans = spans_from_chunks(digest, size, chunks)
    except VerificationError:
        assert chunks  # no chunks is always the one-span layout
        return
    assert_tiles(size, spans)
    if chunks:
        assert [(span.digest, span.size) for span in spans] == [(c.digest, c.size) for c in chunks]


@PROPERTIES
@given(digest=DIGESTS, sizes=st.lists(st.integers(1, HUGE), min_size=1, max_size=8))
def test_chunk_lists_summing_to_the_size_tile_it(digest: bytes, sizes: list[int]) -> None:
    chunks = tuple(ChunkMeta(digest, size) for size in sizes)
    assert_tiles(sum(sizes), spans_from_chunks(digest, sum(sizes), chunks))
    with pytest.raises(VerificationError):
        spans_from_chunks(digest, sum(sizes) - 1, chunks)
    with pytest.raises(VerificationError):
        spans_from_chunks(digest, sum(sizes) + 1, chunks)
