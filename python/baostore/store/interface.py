"""The blob store interface every backend, composition and remote client implements.

A blob is named by its 32-byte BLAKE3 digest. ``stat`` describes a blob (size, chunk list, bao at a
requested shift, optionally the data inline), or only a window of it (``range``: the window's
proof and the chunks overlapping it, at any blob size); ``open_read`` returns a seekable binary
file object.
"""

from __future__ import annotations

import contextlib
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Protocol, Self, final, runtime_checkable

from typing_extensions import Buffer

from baostore import bao
from baostore.bao import FORMATS, MAX_SHIFT
from baostore.bao import BaoFormat as BaoFormat
from baostore.bao import hash as bao_hash
from baostore.errors import InvalidDigestError as InvalidDigestError
from baostore.errors import InvalidRequestError, UnsupportedError
from baostore.errors import StoreError as StoreError
from baostore.sizes import MiB

DIGEST_SIZE = 32
BAO_FORMATS: tuple[BaoFormat, ...] = FORMATS
DEFAULT_BAO_SHIFT = 4
# Streams are read, copied and written in pieces of this size.
PIECE_SIZE = MiB
Pieces = Iterator[bytes]
# Offsets and sizes travel as uint64.
OFFSET_LIMIT = 1 << 64
# A chunk must fit one gRPC message (4 MiB budget) on its own.
MAX_CHUNK_SIZE_LIMIT = 4 * MiB


def check_shift(shift: object, name: str = "bao_shift") -> int:
    """``shift`` if it is a chunk-group shift (an int in 0..MAX_SHIFT), else InvalidRequestError
    naming it as ``name``. The one check of a shift a caller gives, wherever it comes from."""
    if isinstance(shift, int) and not isinstance(shift, bool) and 0 <= shift <= MAX_SHIFT:
        return shift
    raise InvalidRequestError(f"{name} must be in 0..{MAX_SHIFT}, got {shift!r}")


def parse_shift(text: str, name: str = "bao_shift") -> int:
    """A shift written as text (decimal digits), checked by ``check_shift``."""
    return check_shift(int(text) if text.isascii() and text.isdigit() else text, name)


def check_format(bao_format: object, name: str = "bao_format") -> BaoFormat:
    """``bao_format`` if it names a bao format, else InvalidRequestError naming it as ``name``."""
    for known in BAO_FORMATS:
        if bao_format == known:
            return known
    raise InvalidRequestError(f"{name} must be one of {BAO_FORMATS}, got {bao_format!r}")


def check_digest(digest: bytes) -> bytes:
    """Return ``digest`` as bytes if it is exactly 32 bytes, else raise InvalidDigestError."""
    if not isinstance(digest, bytes | bytearray | memoryview):
        raise InvalidDigestError(f"digest must be bytes, got {type(digest).__name__}")
    raw = bytes(digest)
    if len(raw) != DIGEST_SIZE:
        raise InvalidDigestError(f"digest must be {DIGEST_SIZE} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class ChunkSizes:
    """FastCDC 2020 bounds: minimum, average (target) and maximum chunk size in bytes."""

    min: int
    avg: int
    max: int

    def __post_init__(self) -> None:
        if not 0 < self.min <= self.avg <= self.max <= MAX_CHUNK_SIZE_LIMIT:
            raise ValueError(
                f"chunk sizes need 0 < min <= avg <= max <= {MAX_CHUNK_SIZE_LIMIT}, got "
                f"min={self.min} avg={self.avg} max={self.max}"
            )
        # FastCDC has its own bounds per parameter; let it judge them now, not at the first put.
        bao.cdc_cut_lengths(b"", self.min, self.avg, self.max, True)

    @classmethod
    def around(
        cls, avg: int, chunk_min: int | None = None, chunk_max: int | None = None
    ) -> ChunkSizes:
        """Sizes around the average ``avg``: min ``avg / 4`` and max ``4 avg`` (at most
        MAX_CHUNK_SIZE_LIMIT) unless given, the proportions of the default chunking."""
        if chunk_min is None:
            chunk_min = max(1, avg // 4)
        if chunk_max is None:
            chunk_max = max(avg, min(4 * avg, MAX_CHUNK_SIZE_LIMIT))
        return cls(min=chunk_min, avg=avg, max=chunk_max)


@dataclass(frozen=True)
class ByteRange:
    """The bytes ``[start, end)`` of a blob; ``end`` None: up to the blob's end (an end past the
    blob's end means its end too, so a client that does not know the size yet can ask)."""

    start: int
    end: int | None = None

    def checked(self) -> ByteRange:
        """This range, or InvalidRequestError if it is empty, reversed or out of uint64."""
        if not 0 <= self.start < OFFSET_LIMIT:
            raise InvalidRequestError(f"range start {self.start} is out of range")
        if self.end is not None and not self.start < self.end < OFFSET_LIMIT:
            raise InvalidRequestError(
                f"range [{self.start}, {self.end}) is empty, reversed or out of range"
            )
        return self

    def within(self, size: int) -> tuple[int, int]:
        """The range clamped to a blob of ``size`` bytes; InvalidRequestError if it starts past
        its end (the empty blob has the one range ``[0, 0)``)."""
        if self.start > size or (self.start == size and size > 0):
            raise InvalidRequestError(
                f"range start {self.start} is past the end of the blob ({size} bytes)"
            )
        return self.start, size if self.end is None else min(self.end, size)


@dataclass(frozen=True)
class ChunkMeta:
    """One content-defined chunk of a blob: its own BLAKE3 digest and its length."""

    digest: bytes
    size: int


@dataclass(frozen=True)
class Stat:
    """What a store says about a blob.

    ``chunks`` is empty when the blob has no finer chunking (or it was not asked for). ``bao`` is
    the outboard at ``bao_shift`` in ``bao_format`` (empty when not asked for, or when the blob is a
    single chunk group). ``inline`` holds the whole blob when it was small enough and asked for.

    ``window`` is the window ``[start, end)`` the answer describes when a range was asked (None:
    the whole blob, also the answer of a store without ranged Stat): ``bao`` is then the window's
    proof and ``chunks`` the chunks that overlap it, the first at blob offset ``chunks_offset``.
    ``chunking`` says how the store cuts blobs (None: not said).
    """

    size: int
    chunks: tuple[ChunkMeta, ...] = ()
    bao: bytes = b""
    bao_shift: int = DEFAULT_BAO_SHIFT
    bao_format: BaoFormat = "pre_order"
    inline: bytes | None = None
    window: tuple[int, int] | None = None
    chunks_offset: int = 0
    chunking: ChunkSizes | None = None

    def __repr__(self) -> str:
        """Short whatever the blob: byte strings by their length, chunk lists by their count
        (a Stat can hold megabytes of bao)."""
        shown = ", ".join(
            f"{part.name}={_brief(getattr(self, part.name))}" for part in fields(self)
        )
        return f"Stat({shown})"


def _brief(value: object) -> str:
    """``value`` for a repr: byte strings as their length, lists of chunks as their count."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple) and not all(isinstance(item, int) for item in value):
        return f"<{len(value)} items>"
    return repr(value)


@dataclass(frozen=True)
class BlobEntry:
    """A blob as a store lists it: its digest, its size and how many chunk objects hold its data
    (1 for a blob stored as a single chunk, 0 for the empty blob)."""

    digest: bytes
    size: int
    chunk_count: int


@dataclass(frozen=True)
class StatRequest:
    """What a ``stat`` asks for; passed whole between stores, tiers and the wire."""

    send_chunks: bool = True
    send_bao: bool = True
    bao_shift: int | None = None  # None: the store's default
    bao_format: BaoFormat = "pre_order"
    inline_limit: int = 0
    range: ByteRange | None = None  # None: the whole blob
    # The most bytes the answer's bao and chunk list may take (a store that reads by window keeps
    # its answer, and what it reads, below this); None: no limit (a local caller).
    answer_limit: int | None = None

    def checked(self) -> StatRequest:
        """This request, or InvalidRequestError naming the option that is out of range."""
        if self.bao_shift is not None:
            check_shift(self.bao_shift)
        check_format(self.bao_format)
        if self.inline_limit < 0:
            raise InvalidRequestError(f"inline_limit must not be negative, got {self.inline_limit}")
        if self.range is not None:
            self.range.checked()
        if self.answer_limit is not None and self.answer_limit <= 0:
            raise InvalidRequestError(f"answer_limit must be positive, got {self.answer_limit}")
        return self


class BlobReader(Protocol):
    """A seekable binary reader over a blob, what ``open_read`` returns: a local store's buffered
    file, a verified reader over an untrusted store, an in-memory copy..."""

    def read(self, size: int | None = -1, /) -> bytes: ...

    def readinto(self, buffer: Buffer, /) -> int: ...

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...

    def tell(self) -> int: ...

    def readable(self) -> bool: ...

    def seekable(self) -> bool: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...


@dataclass
class ReadStats:
    """What a verified read cost: windows (ranged Stats) and their proofs, chunks and bytes from
    the source, chunks served by the cache."""

    chunks_fetched: int = 0
    bytes_fetched: int = 0
    chunks_from_cache: int = 0
    chunks_cached: int = 0
    fetched_digests: list[bytes] = field(default_factory=list)
    windows_fetched: int = 0
    proof_bytes: int = 0

    def combine(self, other: ReadStats) -> ReadStats:
        """These statistics and ``other``'s, added field by field (every field: one added later
        is not forgotten)."""
        return ReadStats(
            **{
                part.name: getattr(self, part.name) + getattr(other, part.name)
                for part in fields(self)
            }
        )


class VerifiedBlobReader(BlobReader, Protocol):
    """A BlobReader every byte of which was verified against the blob's digest."""

    @property
    def size(self) -> int:
        """The blob's size, proven by its bao."""

    @property
    def stats(self) -> ReadStats:
        """What the read cost so far."""


class VerifiedOpener(Protocol):
    """Opens blobs of untrusted stores for verified reading (``baostore.verify.VerifiedReads``),
    with a trusted chunk ``cache``. Named here so that a store can say how it is read verified
    (``BlobStore.open_verified``) without the store interface depending on the verifier."""

    @property
    def cache(self) -> BlobStore | None: ...

    def with_cache(self, cache: BlobStore) -> VerifiedOpener:
        """This opener with ``cache`` as its chunk cache."""

    def open(self, source: BlobStore, digest: bytes) -> VerifiedBlobReader | None:
        """``digest`` of ``source`` (one untrusted store) for verified reading, or None."""


@runtime_checkable
class Readable(Protocol):
    """Anything ``put`` can read a blob from: a binary file, a socket file, a pipe..."""

    def read(self, size: int = -1, /) -> bytes: ...


class BlobWriter(ABC):
    """A blob being written. ``close()`` returns its digest; ``abort()`` discards it."""

    @abstractmethod
    def write(self, data: Buffer) -> int: ...

    @abstractmethod
    def close(self) -> bytes: ...

    @abstractmethod
    def abort(self) -> None: ...

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()


class BlobStore(ABC):
    """A content-addressed blob store."""

    @abstractmethod
    def has(self, digest: bytes) -> bool: ...

    @final
    def stat(
        self,
        digest: bytes,
        *,
        send_chunks: bool = True,
        send_bao: bool = True,
        bao_shift: int | None = None,
        bao_format: BaoFormat = "pre_order",
        inline_limit: int = 0,
        range: ByteRange | None = None,
        answer_limit: int | None = None,
    ) -> Stat | None:
        """Describe a blob, or None if it is absent.

        ``bao_shift`` None means the store's default; ``Stat.bao_shift`` says which shift was used.
        ``range``: describe only a window around it (``Stat.window`` says which; a store without
        ranged Stat answers for the whole blob, window None). The arguments are checked here, once
        for every store; stores implement ``stat_request``.
        """
        request = StatRequest(
            send_chunks, send_bao, bao_shift, bao_format, inline_limit, range, answer_limit
        )
        return self.stat_request(check_digest(digest), request.checked())

    @abstractmethod
    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        """``stat`` with a checked 32-byte digest and checked options."""

    def expensive(self, request: StatRequest) -> bool:
        """Whether answering ``request`` may take much more than a lookup (rehashing data for a
        finer bao): a server runs such Stats in a bounded pool of their own, so that they wait
        for a slot without holding up cheap calls. False unless a store says otherwise."""
        del request
        return False

    @abstractmethod
    def open_read(self, digest: bytes) -> BlobReader | None:
        """A seekable binary file over the blob (or over a chunk, by its digest), or None."""

    @abstractmethod
    def open_write(self) -> BlobWriter: ...

    @property
    def trusted(self) -> bool:
        """Whether what this store's reads hand on is the blob itself, with no check against the
        digest needed: a local store's own data, or a composition's that verified what it took
        from untrusted members. A remote store is not trusted: read it verified (``open_verified``,
        baostore.verify). Not trusted unless a store says otherwise."""
        return False

    def open_verified(self, digest: bytes, opener: VerifiedOpener) -> VerifiedBlobReader | None:
        """``digest`` read through ``opener``, every byte verified against it; None if absent.

        By default the store is read as one untrusted source (its ``stat`` and ``read_raw``); a
        store made of several sources overrides this (substituters fail over between members)."""
        return opener.open(self, check_digest(digest))

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """The stored bytes of a blob or chunk, in pieces, as this store has them, or None.

        Nothing here is verified: verified reading (baostore.verify) feeds these pieces
        through a bao Verifier. Remote stores override this with their cheapest streaming read.
        """
        reader = self.open_read(digest)
        return None if reader is None else read_pieces(reader)

    def list_blobs(self) -> Iterator[BlobEntry]:
        """Every blob the store holds, in no set order (chunks kept on their own, as a chunk
        cache keeps them, are not blobs). UnsupportedError from a store that cannot enumerate
        its blobs."""
        raise UnsupportedError(f"{self!r} cannot list its blobs")

    def remove(self, digest: bytes) -> bool:
        """Remove the blob ``digest``; whether it was there. A chunked store removes the blob's
        record: it is no longer listed, and chunks that no other blob uses are reclaimed by its
        garbage collection. UnsupportedError from a store that cannot remove blobs."""
        raise UnsupportedError(f"{self!r} cannot remove blobs")

    def put_chunk(self, data: Buffer, expected_digest: bytes | None = None) -> bytes:
        """Store one chunk, readable afterwards by its digest (returned), as a cache tier does with
        verified chunks. With ``expected_digest``, data that hashes to anything else is not
        stored (the returned digest tells). Stores that keep chunks as objects of their own
        override this to skip what a blob needs (cutting, a record); by default it is a ``put``."""
        if expected_digest is not None:
            digest = bao_hash(data)
            if digest != expected_digest:
                return digest
        return self.put(data)

    def chunks(self, digest: bytes) -> tuple[ChunkMeta, ...] | None:
        """The blob's chunk list (empty: no finer chunking), or None if the blob is absent."""
        stat = self.stat(digest, send_chunks=True, send_bao=False)
        return None if stat is None else stat.chunks

    def put(self, data: Buffer | Readable) -> bytes:
        """Store bytes (any buffer) or everything readable from a binary file; return the digest."""
        with self.open_write() as writer:
            if isinstance(data, Readable):
                while piece := data.read(PIECE_SIZE):
                    writer.write(piece)
            else:
                writer.write(data)
            return writer.close()

    def close(self) -> None:  # noqa: B027 - an optional hook: most stores hold nothing to release
        """Release connections and other resources."""

    def __enter__(self) -> BlobStore:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()


def read_pieces(reader: BlobReader) -> Pieces:
    """Everything ``reader`` yields, in pieces of up to PIECE_SIZE; closes it at the end."""
    with reader:
        while piece := reader.read(PIECE_SIZE):
            yield piece


def list_each_once(stores: Iterable[BlobStore]) -> Iterator[BlobEntry]:
    """The blobs of several stores (the tiers or members of a composition), in their order, each
    digest once (as the first store that lists it describes it)."""
    seen: set[bytes] = set()
    for store in stores:
        for entry in store.list_blobs():
            if entry.digest not in seen:
                seen.add(entry.digest)
                yield entry


def remove_from_each(stores: Iterable[BlobStore], digest: bytes) -> bool:
    """Remove ``digest`` from every one of ``stores``, in order; whether any of them had it."""
    removed = False
    for store in stores:
        removed = store.remove(digest) or removed
    return removed


def close_pieces(pieces: Iterator[bytes | memoryview]) -> None:
    """End a piece stream (a ``read_raw`` answer) early; a generator over a gRPC Read cancels its
    call. A stream still running in another thread (its generator cannot be closed while it
    runs: ValueError) is finalized once that call returns."""
    close = getattr(pieces, "close", None)
    if callable(close):
        with contextlib.suppress(ValueError):
            close()
