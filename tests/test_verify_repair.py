"""complete_file and fetch_runs: what is read covers what is missing, no chunk is read twice, and
only missing bytes are written."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

from baostore import bao
from baostore.verify.layout import ChunkSpan
from baostore.verify.outboard import Outboard
from baostore.verify.ranges import Ranges
from baostore.verify.repair import ChunkExtent, complete_file, fetch_runs
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import Buffer

GROUP = 1024


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[ChunkSpan], Ranges]:
    """Chunk spans tiling a blob, and missing ranges of whole groups (the last may be short)."""
    sizes = draw(st.lists(st.integers(1, 5000), min_size=1, max_size=20))
    spans, offset = [], 0
    for index, size in enumerate(sizes):
        spans.append(ChunkSpan(index.to_bytes(32, "big"), offset, size))
        offset += size
    groups = -(-offset // GROUP)
    chosen = draw(st.lists(st.integers(0, groups - 1), max_size=groups))
    missing = Ranges.of((g * GROUP, min((g + 1) * GROUP, offset)) for g in chosen)
    return spans, missing


def covering(spans: list[ChunkSpan], start: int, end: int) -> list[ChunkSpan]:
    return [span for span in spans if span.offset < end and start < span.end]


def extent(spans: list[ChunkSpan]) -> ChunkExtent:
    def chunks(start: int, end: int) -> tuple[int, int]:
        found = covering(spans, start, end)
        return found[0].offset, found[-1].end

    return chunks


@settings(max_examples=200, deadline=None)
@given(layouts())
def test_runs_cover_what_is_missing_and_read_each_chunk_once(
    case: tuple[list[ChunkSpan], Ranges],
) -> None:
    spans, missing = case
    runs = fetch_runs(missing, extent(spans), GROUP)
    assert Ranges.of(part for run in runs for part in run.missing) == missing
    read: list[bytes] = []
    for run in runs:
        assert run.missing and run.start == run.missing.spans[0][0]
        assert run.end == run.missing.spans[-1][1]
        start = run.start // GROUP * GROUP
        end = -(-run.end // GROUP) * GROUP
        read += [span.digest for span in covering(spans, start, end)]
    assert len(read) == len(set(read))


class Source:
    """The blob's bytes by range, counting what was read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read: list[tuple[int, int]] = []

    def read_range(self, start: int, end: int) -> Iterator[Buffer]:
        self.read.append((start, end))
        for offset in range(start, end, 3000):  # pieces that cut groups anywhere
            yield self.data[offset : min(end, offset + 3000)]


def test_complete_file_writes_only_what_is_missing(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(50_000)
    outboard = Outboard.from_bytes(
        bao.hash(data), bao.outboard(data, 0)[1], "pre_order", shift=0, size=len(data)
    )
    spans = [ChunkSpan(bytes(32), 0, len(data))]
    damaged = bytearray(data[:40_000])
    damaged[5000] ^= 1
    damaged[30_000] ^= 1
    path = tmp_path / "copy"
    path.write_bytes(bytes(damaged))
    descriptor = os.open(path, os.O_RDWR)
    try:
        source = Source(data)
        done = complete_file(descriptor, outboard, extent(spans), source)
    finally:
        os.close(descriptor)
    assert path.read_bytes() == data
    assert done.written == Ranges.of([(4096, 5120), (29696, 30720), (39936, 50_000)])
    assert done.kept == len(data) - done.written.total
    assert source.read == [(4096, 50_000)]  # one chunk: one run
