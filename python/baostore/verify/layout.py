"""A blob's layout as an untrusted source describes it, checked before any data is read.

``Stat`` answers the size, the chunk list and the bao. None of it is taken on trust: the bao must
have the length the claimed size needs at the answered shift and format and must check out against
the digest (which also proves the size), the answered shift may be coarser than asked only as far
as the message limit forces, and the chunk list must tile the blob. The result, a BlobLayout, says
where each chunk lies; the chunk bytes themselves are verified later, as they are read.
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
    BlobStore,
    ChunkMeta,
    Stat,
    check_digest,
    check_shift,
)

DEFAULT_INLINE_LIMIT = 16 * KiB
DEFAULT_PARALLELISM = 4
# The gRPC default receive limit, which Tvix/Snix clients keep: every message of the protocol
# stays under it, a Stat answer included.
MAX_MESSAGE_SIZE = 4 * MiB
# The verifier holds a complete chunk group before it can release it, so a source may answer with a
# coarser shift than asked for only as far as it must to keep its Stat answer under the message
# limit (or up to groups of 1024 << MAX_UNASKED_SHIFT bytes, 16 MiB, which is cheap).
MAX_UNASKED_SHIFT = 14


@dataclass(frozen=True)
class ReadOptions:
    """How a verified read asks for the bao and fetches chunks."""

    bao_shift: int = DEFAULT_BAO_SHIFT
    bao_format: BaoFormat = "pre_order"
    inline_limit: int = DEFAULT_INLINE_LIMIT
    parallelism: int = DEFAULT_PARALLELISM


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
class BlobLayout:
    """A blob's verified description: a bao that checked out against the digest, and chunk spans
    that tile ``[0, size)`` (their bytes are still unverified until fed through a Verifier)."""

    digest: bytes
    size: int
    bao: bytes
    bao_shift: int
    bao_format: BaoFormat
    spans: tuple[ChunkSpan, ...]
    inline: bytes | None = None
    # The verifier that checked the bao, still unused: the first window over all of the blob takes
    # it (building one means checking the bao again, milliseconds for a big blob).
    _spare: list[Verifier] = field(default_factory=list, compare=False, repr=False)

    @property
    def group_size(self) -> int:
        return bao.group_size(self.bao_shift)

    def verifier(self, start: int = 0, end: int | None = None) -> Verifier:
        if start == 0 and end is None and self._spare:
            return self._spare.pop()
        return bao.Verifier(
            self.digest,
            self.size,
            self.bao,
            shift=self.bao_shift,
            format=self.bao_format,
            start=start,
            end=end,
        )

    def span_index(self, offset: int) -> int:
        """Index of the span holding ``offset`` (binary search; ``offset < size``)."""
        low, high = 0, len(self.spans) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.spans[middle].offset <= offset:
                low = middle
            else:
                high = middle - 1
        return low


def fetch_layout(source: BlobStore, digest: bytes, options: ReadOptions) -> BlobLayout | None:
    """Ask ``source`` for the blob's size, chunks and bao, and check all of it; None if absent."""
    digest = check_digest(digest)
    stat = source.stat(
        digest,
        send_chunks=True,
        send_bao=True,
        bao_shift=options.bao_shift,
        bao_format=options.bao_format,
        inline_limit=options.inline_limit,
    )
    if stat is None:
        return None
    return layout_from_stat(digest, stat, options)


def layout_from_stat(digest: bytes, stat: Stat, options: ReadOptions) -> BlobLayout:
    """Check an untrusted Stat against the digest and turn it into a BlobLayout."""
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
        expected_bao = bao.outboard_size(stat.size, stat.bao_shift, stat.bao_format)
    except ValueError as error:  # a size out of range is a bad argument to the bao module
        raise VerificationError(f"the source claims an impossible size {stat.size}") from error
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
    layout = BlobLayout(
        digest=digest,
        size=stat.size,
        bao=stat.bao,
        bao_shift=stat.bao_shift,
        bao_format=stat.bao_format,
        spans=spans_from_chunks(digest, stat.size, stat.chunks),
        inline=stat.inline,
    )
    try:
        # Checks the bao (and with it the claimed size) against the digest.
        layout._spare.append(layout.verifier())
    except bao.BaoError as error:
        raise VerificationError(f"the bao does not match the digest: {error}") from error
    return layout


def largest_acceptable_shift(size: int, asked: int, bao_format: BaoFormat) -> int:
    """The coarsest shift a source may answer with for a blob of ``size`` bytes."""
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
    spans = []
    offset = 0
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
    if offset != size:
        raise VerificationError(f"the chunks sum to {offset} bytes, the blob has {size}")
    return tuple(spans)
