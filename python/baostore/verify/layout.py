"""A window of a blob as an untrusted source describes it, checked before any data is read.

``Stat`` answers the size, the chunk list and the bao, for the whole blob or (ranged) for a
window. None of it is taken on trust: the bao or proof must have the length the claimed size and
window need at the answered shift and format and must check out against the digest (which also
proves the size); a whole answer's shift may be coarser than asked only as far as the message
limit forces, a window's never; the window must be the one asked for (perhaps shorter), and the
chunk list must tile the blob or cover the window. The result, a Window, says where each chunk
lies; the chunk bytes themselves are verified later, as they are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baostore import bao
from baostore.bao import Verifier
from baostore.errors import VerificationError
from baostore.sizes import KiB, MiB
from baostore.store.interface import (
    DEFAULT_BAO_SHIFT,
    BaoFormat,
    ByteRange,
    ChunkMeta,
    Stat,
    check_shift,
)

DEFAULT_INLINE_LIMIT = 16 * KiB
DEFAULT_PARALLELISM = 4
# A read's first window after a seek is small (16 groups: 256 KiB at shift 4, 16 KiB at shift 0),
# so a range read costs little; windows double from there while the read goes on, up to a size
# whose Stat answers stay cheap. Opening a blob asks for its first group only.
DEFAULT_FIRST_WINDOW_GROUPS = 16
DEFAULT_WINDOW_SIZE = 64 * MiB
# The gRPC default receive limit, which Tvix/Snix clients keep: every message of the protocol
# stays under it, a Stat answer included.
MAX_MESSAGE_SIZE = 4 * MiB
# The verifier holds a complete chunk group before it can release it, so a source may answer a
# whole-blob Stat with a coarser shift than asked for only as far as it must to keep its answer
# under the message limit (or up to groups of 1024 << MAX_UNASKED_SHIFT bytes, 16 MiB, which is
# cheap).
MAX_UNASKED_SHIFT = 14


@dataclass(frozen=True)
class ReadOptions:
    """How a verified read asks for the bao and fetches chunks. A read walks the blob window by
    window: the first window after a seek asks for ``first_window_groups`` groups, each next one
    for twice as many bytes, up to ``window_size`` (the server may answer shorter windows)."""

    bao_shift: int = DEFAULT_BAO_SHIFT
    bao_format: BaoFormat = "pre_order"
    inline_limit: int = DEFAULT_INLINE_LIMIT
    parallelism: int = DEFAULT_PARALLELISM
    first_window_groups: int = DEFAULT_FIRST_WINDOW_GROUPS

    @property
    def first_window(self) -> int:
        """The bytes the first window after a seek asks for, at ``bao_shift``."""
        return self.first_window_groups * bao.group_size(self.bao_shift)

    window_size: int = DEFAULT_WINDOW_SIZE


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk placed in its blob: the bytes ``[offset, offset + size)``."""

    digest: bytes
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Window:
    """A verified window ``[start, end)`` of a blob: its proof checked out against the digest
    (which also proves the size), and chunk spans that cover it (their bytes still unverified
    until fed through a Verifier). The window of a whole-blob answer is the whole blob and its
    proof the whole bao; only such a window can be verified from any group boundary inside it."""

    digest: bytes
    size: int
    bao_shift: int
    bao_format: BaoFormat
    start: int
    end: int
    proof: bytes
    spans: tuple[ChunkSpan, ...]
    inline: bytes | None = None
    # The verifier that checked the proof, still unused: the first stream over the window takes
    # it (building one means checking the proof again, milliseconds for a big window).
    _spare: list[Verifier] = field(default_factory=list, compare=False, repr=False)

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.size

    @property
    def group_size(self) -> int:
        return bao.group_size(self.bao_shift)

    def can_start_at(self, offset: int) -> bool:
        """Whether a stream can start verifying at group boundary ``offset``: the window's start,
        or any group of a whole-blob window (its proof is the whole bao)."""
        aligned = offset % self.group_size == 0
        return offset == self.start or (self.whole and aligned and 0 <= offset < self.size)

    def verifier(self, start: int | None = None) -> Verifier:
        """A verifier from ``start`` (default: the window's start; see ``can_start_at``) to the
        window's end."""
        start = self.start if start is None else start
        if start == self.start and self._spare:
            return self._spare.pop()
        if self.whole:
            return bao.Verifier(
                self.digest,
                self.size,
                self.proof,
                shift=self.bao_shift,
                format=self.bao_format,
                start=start,
            )
        if start != self.start:
            raise ValueError(f"window [{self.start}, {self.end}) is verified from its start")
        return bao.Verifier.from_proof(
            self.digest,
            self.size,
            self.proof,
            shift=self.bao_shift,
            format=self.bao_format,
            start=self.start,
            end=self.end,
        )

    def span_index(self, offset: int) -> int:
        """Index of the span holding ``offset`` (binary search; the spans cover it)."""
        low, high = 0, len(self.spans) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.spans[middle].offset <= offset:
                low = middle
            else:
                high = middle - 1
        return low


def layout_from_stat(digest: bytes, stat: Stat, options: ReadOptions) -> Window:
    """Check an untrusted Stat for the whole blob against the digest: its whole-blob Window."""
    expected_bao = _check_shape(stat, options)
    acceptable = largest_acceptable_shift(stat.size, options.bao_shift, stat.bao_format)
    if stat.bao_shift > acceptable:
        raise VerificationError(
            f"asked for shift {options.bao_shift}, the source answered with shift "
            f"{stat.bao_shift} (groups of {bao.group_size(stat.bao_shift)} bytes); a blob of "
            f"{stat.size} bytes needs no shift above {acceptable}"
        )
    if not stat.bao and expected_bao:
        raise VerificationError(
            f"the source sent no bao for a blob of {stat.size} bytes, so nothing it sends can be "
            "verified (a server without verified streaming, such as a Tvix/Snix castore?)"
        )
    if len(stat.bao) != expected_bao:
        raise VerificationError(
            f"the source sent a {len(stat.bao)}-byte bao; a blob of {stat.size} bytes at shift "
            f"{stat.bao_shift} ({stat.bao_format}) needs {expected_bao}"
        )
    window = Window(
        digest=digest,
        size=stat.size,
        bao_shift=stat.bao_shift,
        bao_format=stat.bao_format,
        start=0,
        end=stat.size,
        proof=stat.bao,
        spans=spans_from_chunks(digest, stat.size, stat.chunks),
        inline=stat.inline,
    )
    return _proven(window, "the bao does not match the digest")


def window_from_stat(digest: bytes, stat: Stat, options: ReadOptions, asked: ByteRange) -> Window:
    """Check an untrusted answer to a ranged Stat (``asked``) against the digest: the Window it
    describes. The window must start where the asked range does, rounded down to a group at the
    asked shift (which a ranged answer never changes), and end after the first asked byte but no
    later than the asked range rounded out; the proof must have the length that window needs and
    check out; the chunks must cover the window from their first offset on."""
    if stat.window is None:
        raise VerificationError("the source answered a ranged Stat without a window")
    _check_shape(stat, options)
    if stat.bao_shift != options.bao_shift:
        raise VerificationError(
            f"asked for a window at shift {options.bao_shift}, the source answered at shift "
            f"{stat.bao_shift} (a window's shift is never changed)"
        )
    start, end = stat.window
    first, last = _expected_window(stat.size, stat.bao_shift, asked)
    group = bao.group_size(stat.bao_shift)
    aligned = end == stat.size or end % group == 0
    if start != first or not (first < end <= last or end == last == 0) or not aligned:
        raise VerificationError(
            f"asked for bytes [{asked.start}, {asked.end}), the source answered window "
            f"[{start}, {end}); it must be [{first}, e), e on a group boundary, "
            f"{first} < e <= {last}"
        )
    proof_size = bao.proof_size(stat.size, stat.bao_shift, stat.bao_format, start, end)
    if len(stat.bao) != proof_size:
        raise VerificationError(
            f"the source sent a {len(stat.bao)}-byte proof; window [{start}, {end}) of a blob "
            f"of {stat.size} bytes at shift {stat.bao_shift} ({stat.bao_format}) needs {proof_size}"
        )
    whole = (start, end) == (0, stat.size)
    window = Window(
        digest=digest,
        size=stat.size,
        bao_shift=stat.bao_shift,
        bao_format=stat.bao_format,
        start=start,
        end=end,
        proof=stat.bao,
        spans=spans_covering(digest, stat, start, end),
        inline=stat.inline if whole else None,
    )
    return _proven(window, f"the proof of window [{start}, {end}) does not match the digest")


def _proven(window: Window, failure: str) -> Window:
    """``window`` once its proof checked out against the digest (a verifier built from it, kept
    for the first stream)."""
    try:
        window._spare.append(window.verifier())
    except bao.BaoError as error:
        raise VerificationError(f"{failure}: {error}") from error
    return window


def _expected_window(size: int, shift: int, asked: ByteRange) -> tuple[int, int]:
    """The window ``asked`` names in a blob of ``size`` bytes, rounded out to groups."""
    if size == 0:
        return 0, 0
    try:
        start, end = asked.within(size)
    except ValueError as error:
        raise VerificationError(f"the source claims a size of {size}: {error}") from None
    return bao.window(size, shift, start, end)


def _check_shape(stat: Stat, options: ReadOptions) -> int:
    """Check an answer's format, shift and size; the whole bao's length at that size."""
    if stat.bao_format != options.bao_format:
        raise VerificationError(
            f"asked for a {options.bao_format} bao, the source answered {stat.bao_format!r}"
        )
    try:
        check_shift(stat.bao_shift)
    except ValueError as error:
        raise VerificationError(f"the source answered with an invalid shift: {error}") from None
    if stat.size < 0:
        raise VerificationError(f"the source claims a negative size {stat.size}")
    try:
        return bao.outboard_size(stat.size, stat.bao_shift, stat.bao_format)
    except ValueError as error:  # a size out of range is a bad argument to the bao module
        raise VerificationError(f"the source claims an impossible size {stat.size}") from error


def largest_acceptable_shift(size: int, asked: int, bao_format: BaoFormat) -> int:
    """The coarsest shift a source may answer a whole-blob Stat with for ``size`` bytes."""
    fitting = next(
        (
            shift
            for shift in range(bao.MAX_SHIFT + 1)
            if bao.outboard_size(size, shift, bao_format) < MAX_MESSAGE_SIZE
        ),
        bao.MAX_SHIFT,
    )
    # Two more levels leave room for the chunk list, which shares the message with the bao.
    return min(bao.MAX_SHIFT, max(asked, MAX_UNASKED_SHIFT, fitting + 2))


def spans_from_chunks(
    digest: bytes, size: int, chunks: tuple[ChunkMeta, ...]
) -> tuple[ChunkSpan, ...]:
    """Place the chunks in the blob; they must tile it exactly. No chunks: the blob is one span."""
    if not chunks:
        return (ChunkSpan(digest, 0, size),) if size else ()
    spans = _placed(digest, size, chunks, 0)
    if spans[-1].end != size:
        raise VerificationError(f"the chunks sum to {spans[-1].end} bytes, the blob has {size}")
    return spans


def spans_covering(digest: bytes, stat: Stat, start: int, end: int) -> tuple[ChunkSpan, ...]:
    """The spans of a window answer's chunks, placed from ``chunks_offset``: contiguous, within
    the blob, from at or before ``start`` to at least ``end``. No chunks: the blob is one span
    (no finer chunking)."""
    if not stat.chunks:
        return (ChunkSpan(digest, 0, stat.size),) if stat.size else ()
    if not 0 <= stat.chunks_offset <= start:
        raise VerificationError(
            f"the window's chunks start at {stat.chunks_offset}, not at or before its start {start}"
        )
    spans = _placed(digest, stat.size, stat.chunks, stat.chunks_offset)
    if spans[-1].end < end:
        raise VerificationError(
            f"the answer claims window [{start}, {end}) but its chunks end at {spans[-1].end}"
        )
    return spans


def _placed(
    digest: bytes, size: int, chunks: tuple[ChunkMeta, ...], offset: int
) -> tuple[ChunkSpan, ...]:
    """The chunks placed one after another from ``offset``, none past ``size``."""
    spans = []
    for index, chunk in enumerate(chunks):
        if len(chunk.digest) != len(digest):
            raise VerificationError(f"chunk {index} has a {len(chunk.digest)}-byte digest")
        if chunk.size <= 0:
            raise VerificationError(f"chunk {index} claims a size of {chunk.size}")
        spans.append(ChunkSpan(chunk.digest, offset, chunk.size))
        offset += chunk.size
        if offset > size:
            raise VerificationError(
                f"the chunk list runs past the blob's {size} bytes at chunk {index}"
            )
    return tuple(spans)
