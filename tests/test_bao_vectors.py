"""The bao project's test vectors (shift 0) and their 16 KiB-group version (shift 4).

The vector files give, per input length, the root, the BLAKE3 of the size-prefixed outboard and
of the combined encoding, and the byte offsets whose corruption a decoder must reject.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from baostore import bao
from blake3 import blake3

from tests.vectors import load_vectors, vector_input

VECTOR_FILES = {0: "bao-shift0.json", 4: "abao-shift4.json"}
FORMATS: tuple[bao.BaoFormat, ...] = ("pre_order", "leaves")
SIZE_PREFIX = 8  # the vectors' outboards and encodings start with the size, u64 little-endian


@pytest.fixture(params=sorted(VECTOR_FILES), ids=lambda shift: f"shift{shift}")
def shift(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@pytest.fixture
def vectors(shift: int) -> dict[str, Any]:
    return load_vectors(VECTOR_FILES[shift])


def flip(data: bytes, offset: int) -> bytes:
    """``data`` with the lowest bit of byte ``offset`` flipped (as the vectors' generator does)."""
    damaged = bytearray(data)
    damaged[offset] ^= 1
    return bytes(damaged)


def verify_by_groups(
    root: bytes, size: int, ob: bytes, data: bytes, shift: int, bao_format: bao.BaoFormat
) -> tuple[bytes, bao.BaoError | None]:
    """Feeds ``data`` one group at a time; returns what was released and the error, if any."""
    released = bytearray()
    group = bao.group_size(shift)
    try:
        verifier = bao.Verifier(root, size, ob, shift, bao_format)
        for offset in range(0, len(data), group):
            released += verifier.update(data[offset : offset + group])
        released += verifier.finalize()
    except bao.BaoError as error:
        return bytes(released), error
    return bytes(released), None


def pre_order_segments(size: int, shift: int) -> Iterator[tuple[str, int, int]]:
    """The combined encoding's layout: ``(source, offset, length)`` parts in order, where source
    is "size", "bao" (offset into our pre_order bao) or "data" (offset into the blob)."""
    yield "size", 0, SIZE_PREFIX
    group = bao.group_size(shift)
    next_parent = 0

    def subtree(start: int, length: int) -> Iterator[tuple[str, int, int]]:
        nonlocal next_parent
        if length <= group:
            if length:
                yield "data", start, length
            return
        yield "bao", next_parent, 64
        next_parent += 64
        chunks = -(-length // 1024)
        left = 1024 * (1 << ((chunks - 1).bit_length() - 1))  # largest power of two < chunks
        yield from subtree(start, left)
        yield from subtree(start + left, length - left)

    yield from subtree(0, size)


def locate(segments: list[tuple[str, int, int]], offset: int) -> tuple[str, int, int]:
    """Where encoding byte ``offset`` came from: ``(source, segment offset, position in it)``."""
    for name, at, length in segments:
        if offset < length:
            return name, at, offset
        offset -= length
    raise AssertionError(f"offset {offset} is past the encoding")


def test_every_root(vectors: dict[str, Any], shift: int) -> None:
    for case in vectors["hash"]:
        data = vector_input(case["input_len"])
        assert bao.hash(data).hex() == case["bao_hash"]
        for bao_format in FORMATS:
            root, _ = bao.outboard(data, shift, bao_format)
            assert root.hex() == case["bao_hash"], (case["input_len"], bao_format)


def test_every_outboard(vectors: dict[str, Any], shift: int) -> None:
    for case in vectors["outboard"]:
        size = case["input_len"]
        root, ob = bao.outboard(vector_input(size), shift, "pre_order")
        prefixed = size.to_bytes(SIZE_PREFIX, "little") + ob
        assert len(prefixed) == case["output_len"], size
        assert blake3(prefixed).hexdigest() == case["encoded_blake3"], size
        assert root.hex() == case["bao_hash"]
        assert bao.outboard_size(size, shift, "pre_order") == len(ob)


def test_every_outboard_corruption_rejected(vectors: dict[str, Any], shift: int) -> None:
    for case in vectors["outboard"]:
        size = case["input_len"]
        data = vector_input(size)
        root, ob = bao.outboard(data, shift, "pre_order")
        for offset in case["outboard_corruptions"]:
            if offset < SIZE_PREFIX:  # a corrupted size: the claimed size is a lie
                claimed, damaged_ob = size ^ (1 << (8 * offset)), ob
            else:
                claimed, damaged_ob = size, flip(ob, offset - SIZE_PREFIX)
            released, error = verify_by_groups(root, claimed, damaged_ob, data, shift, "pre_order")
            assert error is not None, (size, offset)
            assert data.startswith(released)


def test_every_input_corruption_rejected(vectors: dict[str, Any], shift: int) -> None:
    group = bao.group_size(shift)
    for case in vectors["outboard"]:
        size = case["input_len"]
        data = vector_input(size)
        for bao_format in FORMATS:
            root, ob = bao.outboard(data, shift, bao_format)
            for offset in case["input_corruptions"]:
                damaged = flip(data, offset)
                released, error = verify_by_groups(root, size, ob, damaged, shift, bao_format)
                assert error is not None, (size, offset, bao_format)
                # Every group before the damaged one was complete and checked: all released.
                assert released == data[: offset // group * group], (size, offset, bao_format)


def test_combined_encoding_layout_and_corruptions(vectors: dict[str, Any], shift: int) -> None:
    """Interleaving our bao with the data per bao-tree's pre-order gives the vectors' encodings
    byte for byte, and every listed corruption of an encoding, traced back to the size, the bao
    or the data, is rejected."""
    for case in vectors["encode"]:
        size = case["input_len"]
        data = vector_input(size)
        root, ob = bao.outboard(data, shift, "pre_order")
        sources = {"size": size.to_bytes(SIZE_PREFIX, "little"), "bao": ob, "data": data}
        segments = list(pre_order_segments(size, shift))
        encoded = b"".join(sources[name][at : at + n] for name, at, n in segments)
        assert len(encoded) == case["output_len"], size
        assert blake3(encoded).hexdigest() == case["encoded_blake3"], size

        for corruption in case["corruptions"]:
            name, at, position = locate(segments, corruption)
            claimed, damaged_ob, damaged = size, ob, data
            if name == "size":
                claimed ^= 1 << (8 * position)
            elif name == "bao":
                damaged_ob = flip(ob, at + position)
            else:
                damaged = flip(data, at + position)
            released, error = verify_by_groups(
                root, claimed, damaged_ob, damaged, shift, "pre_order"
            )
            assert error is not None, (size, corruption, name)
            assert data.startswith(released)


def test_slices_verify_as_windows(vectors: dict[str, Any], shift: int) -> None:
    """Each vector slice, widened to whole groups, verifies as a window in both formats."""
    group = bao.group_size(shift)
    for case in vectors["slice"]:
        size = case["input_len"]
        data = vector_input(size)
        last_group_start = max(size - 1, 0) // group * group
        for piece in case["slices"]:
            start = min(piece["start"] // group * group, last_group_start)
            end = min(-(-(piece["start"] + max(piece["len"], 1)) // group) * group, size)
            end = max(end, start)
            for bao_format in FORMATS:
                root, ob = bao.outboard(data, shift, bao_format)
                verifier = bao.Verifier(root, size, ob, shift, bao_format, start, end)
                window = verifier.update(data[start:end]) + verifier.finalize()
                assert window == data[start:end], (size, piece, bao_format)
