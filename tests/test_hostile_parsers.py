"""Hostile input to the bao parsers and the record parser: only BaoError/ValueError, no crash.

Sizes range up to 2^64 - 1, shifts up to 255, formats include unknown names, and baos are
random bytes of random or of exactly the expected length (to get past the length check into the
tree checks), or real baos with a byte flipped. Nothing may panic, hang or allocate by a size
it was told.
"""

from __future__ import annotations

import struct

import pytest
from baostore import bao
from baostore.store.interface import ChunkMeta
from baostore.store.record import BlobRecord, RecordError, decode_record, encode_record
from hypothesis import given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None)
SIZES = st.one_of(
    st.integers(0, 70_000),
    st.sampled_from([1024, 1025, 16384, 16385, 2**32, 2**63, 2**64 - 1]),
    st.integers(0, 2**64 - 1),
)
SHIFTS = st.one_of(st.integers(0, bao.MAX_SHIFT), st.integers(0, 255))
FORMATS = st.sampled_from(["pre_order", "leaves", "post_order", ""])


@st.composite
def outboards(draw: st.DrawFn, size: int, shift: int, bao_format: str) -> bytes:
    """Random bytes, of exactly the expected bao length when that is small."""
    try:
        expected = bao.outboard_size(size, shift, bao_format)  # type: ignore[arg-type]
    except ValueError:
        expected = None
    if expected is not None and expected <= 8192 and draw(st.booleans()):
        return draw(st.binary(min_size=expected, max_size=expected))
    return draw(st.binary(max_size=512))


@FUZZ
@given(data=st.data(), size=SIZES, shift=SHIFTS, bao_format=FORMATS)
def test_verifier_on_random_input(
    data: st.DataObject, size: int, shift: int, bao_format: str
) -> None:
    outboard = data.draw(outboards(size, shift, bao_format))
    root = data.draw(st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40)))
    start = data.draw(st.one_of(st.just(0), SIZES))
    end = data.draw(st.one_of(st.none(), SIZES))
    try:
        verifier = bao.Verifier(root, size, outboard, shift, bao_format, start, end)  # type: ignore[arg-type]
    except ValueError:
        return
    released = bytearray()
    try:
        for piece in data.draw(st.lists(st.binary(max_size=3000), max_size=6)):
            released += verifier.update(piece)
        released += verifier.finalize()
    except ValueError:
        return
    # Accepted: then what came out is exactly the blob the root names (or its window).
    window_end = size if end is None else end
    assert len(released) == window_end - start
    if start == 0 and window_end == size:
        assert bao.hash(released) == root


@FUZZ
@given(data=st.data(), size=st.integers(0, 40_000), shift=st.integers(0, 6))
def test_verifier_on_a_damaged_real_bao(data: st.DataObject, size: int, shift: int) -> None:
    blob = bytes(range(256)) * (size // 256) + bytes(size % 256)
    root, outboard = bao.outboard(blob, shift)
    if outboard:
        at = data.draw(st.integers(0, len(outboard) - 1))
        damaged = bytearray(outboard)
        damaged[at] ^= 1 << data.draw(st.integers(0, 7))
        with pytest.raises(bao.BaoError):
            bao.Verifier(root, size, bytes(damaged), shift)
    verifier = bao.Verifier(root, size, outboard, shift)
    cut = data.draw(st.integers(0, size))
    out = verifier.update(blob[:cut])
    if size:
        wrong = bytearray(blob[cut:]) or bytearray(b"x")
        wrong[-1] ^= 1
        with pytest.raises(bao.BaoError):
            verifier.update(bytes(wrong))
            verifier.finalize()
    else:
        assert out + verifier.finalize() == blob


@FUZZ
@given(data=st.data(), size=SIZES, shifts=st.tuples(SHIFTS, SHIFTS), bao_format=FORMATS)
def test_coarsen_on_random_input(
    data: st.DataObject, size: int, shifts: tuple[int, int], bao_format: str
) -> None:
    from_shift, to_shift = shifts
    outboard = data.draw(outboards(size, from_shift, bao_format))
    try:
        coarser = bao.coarsen(outboard, size, from_shift, to_shift, bao_format)  # type: ignore[arg-type]
    except ValueError:
        return
    assert len(coarser) == bao.outboard_size(size, to_shift, bao_format)  # type: ignore[arg-type]


@FUZZ
@given(data=st.data(), size=SIZES, shift=SHIFTS, formats=st.tuples(FORMATS, FORMATS))
def test_convert_format_on_random_input(
    data: st.DataObject, size: int, shift: int, formats: tuple[str, str]
) -> None:
    outboard = data.draw(outboards(size, shift, formats[0]))
    try:
        converted = bao.convert_format(outboard, size, shift, *formats)  # type: ignore[arg-type]
    except ValueError:
        return
    assert len(converted) == bao.outboard_size(size, shift, formats[1])  # type: ignore[arg-type]


@FUZZ
@given(
    data=st.binary(max_size=2000),
    sizes=st.tuples(
        st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)
    ),
    final=st.booleans(),
)
def test_cdc_cut_lengths_on_random_parameters(
    data: bytes, sizes: tuple[int, int, int], final: bool
) -> None:
    try:
        lengths = bao.cdc_cut_lengths(data, *sizes, final)
    except ValueError:
        return
    assert sum(lengths) <= len(data)


# -- records -----------------------------------------------------------------------------------


def a_record() -> bytes:
    blob = bytes(range(256)) * 200
    _, outboard = bao.outboard(blob, 2)
    chunks = (ChunkMeta(bytes(32), 20_000), ChunkMeta(bytes(range(32)), len(blob) - 20_000))
    return encode_record(BlobRecord(size=len(blob), bao_shift=2, chunks=chunks, bao=outboard))


@FUZZ
@given(raw=st.binary(max_size=400))
def test_decode_record_on_random_bytes(raw: bytes) -> None:
    with pytest.raises(RecordError):
        decode_record(raw)


@FUZZ
@given(data=st.data())
def test_decode_record_on_a_damaged_record(data: st.DataObject) -> None:
    raw = bytearray(a_record())
    action = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if action == "flip":
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        del raw[data.draw(st.integers(0, len(raw) - 1)) :]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=64))
    with pytest.raises(RecordError):
        decode_record(bytes(raw))


@FUZZ
@given(
    shift=st.integers(0, 255),
    size=st.integers(0, 2**64 - 1),
    count=st.integers(0, 2**32 - 1),
    tail=st.binary(max_size=200),
)
def test_decode_record_with_absurd_header_fields(
    shift: int, size: int, count: int, tail: bytes
) -> None:
    """A header claiming 2^32 chunks or 2^64 bytes drives no work: the length check comes first."""
    header = struct.pack("<6sBBQI", b"BAOREC", 1, shift, size, count)
    with pytest.raises(RecordError):
        decode_record(header + tail)


def test_the_undamaged_record_decodes() -> None:
    assert decode_record(a_record()).size == 256 * 200
