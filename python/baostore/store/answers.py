"""Stat answers from a stored blob's parts, reading only what the answer needs.

A ranged Stat is answered for a window: the proof of the window at the asked shift and format
(``bao.ProofPlan`` over the stored post-order bao; for a shift finer than the stored one the
window's own data is rehashed, nothing more) and the chunks that overlap it. With an answer limit,
the window is cut short so that the answer fits, before anything is read: every read is bounded by
the limit, whatever the blob's size. The shift of a ranged answer is never coarsened.

A Stat without a range (Tvix/Snix clients) is answered for the whole blob as before: the bao at the
finest shift that fits the limit with the chunk list (coarsened from the stored bao by reading only
its pairs above the answer's groups), else without the chunk list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from baostore import bao, metrics
from baostore.errors import DataLossError, StoreError
from baostore.fitting import largest
from baostore.sizes import MiB
from baostore.store.interface import BaoFormat, ChunkSizes, Stat, StatRequest
from baostore.store.parts import BlobParts, ChunkPlace

# What one chunk of the list costs in an answer at most: its ChunkMeta message (digest field 34,
# size field up to 11) with its own tag and length.
CHUNK_ANSWER_BOUND = 48
# Room for everything else an answer carries: size, shift, format, window, chunks_offset,
# chunking, the bao field's tag and length.
ANSWER_OVERHEAD = 160
# Finer bao than the stored one needs the data again: a Stat without a range rehashes blobs up to
# this size, above it answers with the stored shift (Stat.bao_shift says so). A ranged Stat
# rehashes only its window, which the answer limit bounds.
REHASH_LIMIT = 256 * MiB
# A rehash costs CPU and holds the data it hashes; the shift is the caller's choice: few at a
# time per process (a server also queues them before they take a worker: grpc/server.py).
REHASH_SLOTS = 2
_rehash_slots = threading.BoundedSemaphore(REHASH_SLOTS)

# Fills a buffer with the bytes of a chunk from an offset in it, for a rehash, unchecked: a
# rehash checks what it hashes against the blob's digest (``ProofPlan.build``, the root after
# ``OutboardBuilder``), so hashing each chunk against its own digest first would hash the data
# twice. Gathering into one buffer spares an allocation per chunk and a join.
ReadChunk = Callable[[ChunkPlace, int, memoryview], None]


class StatAnswers:
    """Answers ``Stat`` requests for one stored blob (``parts``), reading chunks with
    ``read_chunk`` (see ``ReadChunk``) when data must be rehashed."""

    def __init__(
        self,
        parts: BlobParts,
        read_chunk: ReadChunk,
        chunking: ChunkSizes,
        rehash_limit: int = REHASH_LIMIT,
    ) -> None:
        self.parts = parts
        self.read_chunk = read_chunk
        self.chunking = chunking
        self.rehash_limit = rehash_limit

    def answer(self, request: StatRequest, shift: int, inline: Callable[[], bytes]) -> Stat:
        """The answer to ``request`` at ``shift`` (the asked one or the store's default);
        ``inline`` reads the whole blob, asked for only when the request wants it inline."""
        parts = self.parts
        budget = None
        if request.answer_limit is not None:
            budget = request.answer_limit - ANSWER_OVERHEAD
        data = None
        wanted_inline = request.inline_limit and parts.size <= request.inline_limit
        if wanted_inline and (budget is None or parts.size < budget // 2):
            data = inline()
            if budget is not None:
                budget -= len(data)
        if request.range is None:
            stat = self._whole(request, shift, budget)
        else:
            stat = self._window(request, shift, budget)
        return replace(stat, inline=data, chunking=self.chunking)

    # -- a window -------------------------------------------------------------------------

    def _window(self, request: StatRequest, shift: int, budget: int | None) -> Stat:
        parts = self.parts
        assert request.range is not None
        start, end = request.range.within(parts.size)
        bao_format = request.bao_format
        if parts.size == 0:
            return Stat(size=0, bao_shift=shift, bao_format=bao_format, window=(0, 0))
        start, end = bao.window(parts.size, shift, start, end)
        send_chunks = request.send_chunks and parts.chunk_count > 0
        numbers = None
        if budget is not None:
            end, send_chunks, numbers = self._fitting_end(request, shift, start, end, budget)
        proof = self._proof(shift, bao_format, start, end) if request.send_bao else b""
        places = parts.chunks_overlapping(start, end, numbers) if send_chunks else []
        return Stat(
            size=parts.size,
            chunks=tuple(place.meta for place in places),
            bao=proof,
            bao_shift=shift,
            bao_format=bao_format,
            window=(start, end),
            chunks_offset=places[0].start if places else 0,
        )

    def _fitting_end(
        self, request: StatRequest, shift: int, start: int, end: int, budget: int
    ) -> tuple[int, bool, tuple[int, int] | None]:
        """The end of the longest window from ``start`` (at most to ``end``) whose answer fits
        ``budget``, whether its chunk list goes with it, and the bounds of the chunk numbers
        that overlap it (from the chunk index: one ranged read, never the chunk list)."""
        parts = self.parts
        group = bao.group_size(shift)
        size = parts.size

        def end_of(groups: int) -> int:
            return min(start + groups * group, size)

        def proof_cost(window_end: int) -> int:
            if not request.send_bao:
                return 0
            return bao.proof_size(size, shift, request.bao_format, start, window_end)

        groups = -(-(end - start) // group)
        groups = largest(groups, lambda count: proof_cost(end_of(count)) <= budget)
        if groups == 0:
            raise StoreError(f"no window of blob {parts.digest.hex()} fits {budget} bytes")
        if not (request.send_chunks and parts.chunk_count > 0):
            return end_of(groups), False, None
        # A block of the index holds a chunk boundary, so a window over more blocks than the
        # budget has chunk entries cannot fit: cut there before reading the index.
        block = parts.index_block
        blocks_fitting = budget // CHUNK_ANSWER_BOUND + 1
        byte_cap = (start // block + blocks_fitting) * block - start
        groups = max(1, min(groups, byte_cap // group))
        first_block = start // block
        last_end = end_of(groups)
        after = (last_end - 1) // block + 1
        entries = parts.index_entries(first_block, after + 1)
        first_chunk = entries[0]

        def chunk_stop(window_end: int) -> int:
            after_block = (window_end - 1) // block + 1 - first_block
            return entries[after_block] + 1 if after_block < len(entries) else parts.chunk_count

        def fits(count: int) -> bool:
            window_end = end_of(count)
            chunk_cost = (chunk_stop(window_end) - first_chunk) * CHUNK_ANSWER_BOUND
            return proof_cost(window_end) + chunk_cost <= budget

        with_chunks = largest(groups, fits)
        if with_chunks == 0:
            # One group's chunks do not fit (huge groups of tiny chunks): the window goes
            # without its chunk list, which means "read the blob as one stream".
            return end_of(1), False, None
        window_end = end_of(with_chunks)
        return window_end, True, (first_chunk, chunk_stop(window_end))

    def _proof(self, shift: int, bao_format: BaoFormat, start: int, end: int) -> bytes:
        parts = self.parts
        plan = bao.ProofPlan(parts.size, parts.bao_shift, shift, bao_format, start, end)
        pieces = parts.read("bao", plan.outboard_ranges)
        if plan.data_range is None:
            return self._build(plan, pieces, None)
        metrics.STAT_REHASHES.inc()
        with _rehash_slots:
            return self._build(plan, pieces, self._data(*plan.data_range))

    def _build(self, plan: bao.ProofPlan, pieces: list[bytes], data: bytearray | None) -> bytes:
        try:
            return plan.build(self.parts.digest, pieces, data)
        except bao.BaoError as error:
            raise DataLossError(
                f"blob {self.parts.digest.hex()} is damaged in the store: {error}"
            ) from error

    def _data(self, start: int, end: int) -> bytearray:
        """The blob's bytes ``[start, end)``, gathered from the chunks that hold them."""
        data = bytearray(end - start)
        view = memoryview(data)
        for place in self.parts.chunks_overlapping(start, end):
            first, last = max(start, place.start), min(end, place.start + place.size)
            self.read_chunk(place, first - place.start, view[first - start : last - start])
        return data

    # -- the whole blob -------------------------------------------------------------------

    def _whole(self, request: StatRequest, shift: int, budget: int | None) -> Stat:
        parts = self.parts
        bao_format = request.bao_format
        if shift < parts.bao_shift and parts.size > self.rehash_limit:
            shift = parts.bao_shift
        chunked = request.send_chunks and parts.chunk_count > 0
        chunk_cost = parts.chunk_count * CHUNK_ANSWER_BOUND if chunked else 0
        if budget is not None and request.send_bao:
            fitted = _finest_fitting(parts.size, shift, bao_format, budget - chunk_cost)
            if fitted is None:
                chunked = False
                fitted = _finest_fitting(parts.size, shift, bao_format, budget)
            if fitted is None:
                raise StoreError(f"no Stat answer for a blob of {parts.size} bytes fits")
            shift = fitted
        elif budget is not None and chunk_cost > budget:
            chunked = False
        outboard = b""
        if request.send_bao and bao.outboard_size(parts.size, shift, bao_format):
            outboard = (
                self._rehash_whole(shift, bao_format)
                if shift < parts.bao_shift
                else self._proof(shift, bao_format, 0, parts.size)
            )
        chunks = tuple(place.meta for place in parts.all_chunks()) if chunked else ()
        return Stat(
            size=parts.size, chunks=chunks, bao=outboard, bao_shift=shift, bao_format=bao_format
        )

    def _rehash_whole(self, shift: int, bao_format: BaoFormat) -> bytes:
        parts = self.parts
        metrics.STAT_REHASHES.inc()
        with _rehash_slots:
            builder = bao.OutboardBuilder(shift, bao_format)
            buffer = memoryview(b"")
            for place in parts.all_chunks():
                if len(buffer) < place.size:
                    buffer = memoryview(bytearray(place.size))
                chunk = buffer[: place.size]
                self.read_chunk(place, 0, chunk)
                builder.update(chunk)
            root, outboard = builder.finalize()
        if root != parts.digest:
            raise DataLossError(
                f"blob {parts.digest.hex()} is corrupt: its chunks hash differently"
            )
        return outboard


def _finest_fitting(size: int, shift: int, bao_format: BaoFormat, budget: int) -> int | None:
    """The finest shift from ``shift`` on whose whole bao takes at most ``budget`` bytes."""
    for candidate in range(shift, bao.MAX_SHIFT + 1):
        if bao.outboard_size(size, candidate, bao_format) <= budget:
            return candidate
    return None
