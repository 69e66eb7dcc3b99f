"""BLAKE3 bao outboards at any chunk-group size, and a streaming verifier.

A blob is hashed by BLAKE3 in 1 KiB chunks arranged in a binary tree; a *chunk group* of
``2**shift`` chunks (``group_size(shift)`` bytes) is a subtree of it. The *bao* (outboard) of a
blob holds the tree's chaining values down to the groups, so a receiver that knows only the root
(the plain ``blake3(data)`` digest) can check each group of a stream before using it.

Formats:

* ``"pre_order"``: bao-tree's ``PreOrderOutboard`` bytes, no size prefix, ``(groups - 1) * 64``
  bytes (at shift 0 the ``bao`` crate's outboard without its 8-byte length; at shift 4
  iroh-blobs' ``.obao4``).
* ``"leaves"``: the chaining values of the groups, 32 bytes each, in order.

A blob of a single group (the empty blob included) has an empty bao in both formats.

Every ``data``-like argument takes any object with the buffer protocol (bytes, bytearray,
memoryview, mmap, array, numpy arrays) as long as it is C-contiguous; it is read in place, and the
GIL is released while inputs of 2 KiB or more are processed. Any mismatch, malformed bao or
invalid argument raises ``BaoError`` (a ``ValueError``) with a message that says what and where.

Example::

    root, ob = outboard(data, shift=4)
    verifier = Verifier(root, len(data), ob, shift=4)
    checked = verifier.update(data) + verifier.finalize()

Windows and proofs (no size ceiling). A *window* is a byte range ``[start, end)`` of a blob,
answered rounded out to groups (``window()``: start down to a group boundary, end up to one or to
the size). Its *proof* is what a verifier needs to check the window's groups against the root:
O(log n) nodes plus the window's own, at any blob size. In ``"pre_order"`` it is the pairs
(``left CV || right CV``) of every parent that overlaps the window, in pre-order: exactly the
parents bao-tree's range encoding emits for the window (what iroh-blobs sends for a range
request), without the data. In ``"leaves"`` it is the chaining values of the window's groups and
of the subtrees that close the tree left and right of it, left to right. The whole-blob window's
proof is the whole bao. docs/protocol.md ("Window proofs") defines both byte by byte.

* ``proof_size()`` tells a proof's length, ``window_proof()`` cuts it from a whole bao in memory,
  ``Verifier.from_proof()`` verifies a window with it.
* ``"post_order"`` is a *storage* layout (bao-tree's ``PostOrderOutboard``, the same pairs in
  post-order), never a wire format: ``PostOrderBuilder`` writes it while a blob streams in, in
  memory independent of the blob's size, and ``ProofPlan`` answers any window's proof at any
  shift and format from a stored post-order bao by reading O(log n + window) byte ranges of it
  (plus, for a shift finer than the stored one, the window's stored groups of data to rehash).
  ``pre_order_to_post_order()`` migrates baos kept in pre-order.

Example (a server holding a post-order bao at shift 4 in an object store)::

    plan = ProofPlan(size, stored_shift=4, shift=0, format="pre_order", start=a, end=b)
    pieces = [read_object(key, lo, hi) for lo, hi in plan.outboard_ranges]
    data = read_blob(*plan.data_range) if plan.data_range else None
    proof = plan.build(digest, pieces, data)            # checked against digest
    # client:
    v = Verifier.from_proof(digest, size, proof, shift=0, start=plan.start, end=plan.end)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, get_args

from baostore import _bao

if TYPE_CHECKING:  # typing_extensions is needed by type checkers only
    from typing_extensions import Buffer

__all__ = [
    "MAX_SHIFT",
    "BaoError",
    "BaoFormat",
    "Hasher",
    "MalformedBaoError",
    "MismatchError",
    "OutboardBuilder",
    "PostOrderBuilder",
    "ProofPlan",
    "Verifier",
    "cdc_cut_lengths",
    "coarsen",
    "convert_format",
    "group_size",
    "hash",
    "outboard",
    "outboard_size",
    "post_order_to_pre_order",
    "pre_order_to_post_order",
    "proof_size",
    "window",
    "window_proof",
]

BaoFormat = Literal["pre_order", "leaves"]
FORMATS: Final[tuple[BaoFormat, ...]] = get_args(BaoFormat)

MAX_SHIFT: Final[int] = _bao.MAX_SHIFT
"""The largest accepted shift (groups of ``1024 << MAX_SHIFT`` bytes)."""

MAX_THREADS: Final[int] = 256
"""A sanity bound on ``outboard(threads=...)``; only the machine's cores help anyway."""

BaoError = _bao.BaoError
"""Raised on any mismatch, malformed bao or invalid argument; a subclass of ``ValueError``."""
MismatchError = _bao.MismatchError
"""A ``BaoError``: data, a bao or a proof does not match the root, or a stream is too short or
too long for its window (a lie or damage); the message says where."""
MalformedBaoError = _bao.MalformedBaoError
"""A ``BaoError``: a bao or proof whose length cannot belong to the claimed size, shift, window."""

window = _bao.window
proof_size = _bao.proof_size
window_proof = _bao.window_proof
pre_order_to_post_order = _bao.pre_order_to_post_order
post_order_to_pre_order = _bao.post_order_to_pre_order
PostOrderBuilder = _bao.PostOrderBuilder
ProofPlan = _bao.ProofPlan

_U64_LIMIT: Final[int] = 1 << 64
_U32_LIMIT: Final[int] = 1 << 32


def _checked_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` if it is an int in ``[low, high)``, else a clear error."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value < high:
        raise BaoError(f"{name} must be in [{low}, {high}), got {value}")
    return value


def _checked_shift(name: str, shift: int) -> int:
    return _checked_int(name, shift, 0, MAX_SHIFT + 1)


def _checked_size(name: str, size: int) -> int:
    return _checked_int(name, size, 0, _U64_LIMIT)


def _checked_format(name: str, bao_format: str) -> BaoFormat:
    if bao_format not in FORMATS:
        expected = " or ".join(repr(known) for known in FORMATS)
        raise BaoError(f"{name}: unknown bao format {bao_format!r}, expected {expected}")
    return bao_format


def group_size(shift: int) -> int:
    """The size in bytes of a chunk group at ``shift``: ``1024 << shift``."""
    return 1024 << _checked_shift("shift", shift)


def hash(data: Buffer) -> bytes:
    """The plain 32-byte BLAKE3 digest of ``data`` (the root of its bao at every shift)."""
    return _bao.hash(data)


def outboard_size(size: int, shift: int = 4, format: BaoFormat = "pre_order") -> int:
    """The length in bytes of the bao of a ``size``-byte blob."""
    return _bao.outboard_size(
        _checked_size("size", size),
        _checked_shift("shift", shift),
        _checked_format("format", format),
    )


def outboard(
    data: Buffer, shift: int = 4, format: BaoFormat = "pre_order", threads: int = 1
) -> tuple[bytes, bytes]:
    """``(root, bao)`` of ``data``; ``threads > 1`` hashes large inputs on several cores."""
    return _bao.outboard(
        data,
        _checked_shift("shift", shift),
        _checked_format("format", format),
        _checked_int("threads", threads, 1, MAX_THREADS + 1),
    )


def coarsen(
    outboard: Buffer,
    size: int,
    from_shift: int,
    to_shift: int,
    format: BaoFormat = "pre_order",
) -> bytes:
    """The bao at ``to_shift`` (>= ``from_shift``) made from the bao at ``from_shift``.

    Needs no data: groups pair up into their parents. ``outboard`` is checked for its length only;
    a wrong bao gives a wrong coarser bao, which any ``Verifier`` then rejects.
    """
    return _bao.coarsen(
        outboard,
        _checked_size("size", size),
        _checked_shift("from_shift", from_shift),
        _checked_shift("to_shift", to_shift),
        _checked_format("format", format),
    )


def convert_format(
    outboard: Buffer, size: int, shift: int, from_format: BaoFormat, to_format: BaoFormat
) -> bytes:
    """The same bao (same blob, same shift) in ``to_format``."""
    return _bao.convert_format(
        outboard,
        _checked_size("size", size),
        _checked_shift("shift", shift),
        _checked_format("from_format", from_format),
        _checked_format("to_format", to_format),
    )


def cdc_cut_lengths(
    data: Buffer, min_size: int, avg_size: int, max_size: int, final: bool
) -> list[int]:
    """FastCDC 2020 chunk lengths of ``data``, in order (they sum to ``len(data)`` if ``final``).

    Without ``final`` the last chunk, which the end of ``data`` may have cut short, is left out:
    every length returned is final, and the caller feeds the rest again with more data.
    """
    return _bao.cdc_cut_lengths(
        data,
        _checked_int("min_size", min_size, 0, _U32_LIMIT),
        _checked_int("avg_size", avg_size, 0, _U32_LIMIT),
        _checked_int("max_size", max_size, 0, _U32_LIMIT),
        bool(final),
    )


class Hasher:
    """Plain BLAKE3 of data fed in pieces (``hash()`` of everything fed, without keeping it)."""

    __slots__ = ("_hasher",)

    def __init__(self) -> None:
        self._hasher = _bao.Hasher()

    def update(self, data: Buffer) -> None:
        """Feeds the next bytes."""
        self._hasher.update(data)

    def digest(self) -> bytes:
        """The 32-byte digest of everything fed so far; feeding may go on."""
        return self._hasher.digest()

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._hasher.size


class OutboardBuilder:
    """Computes ``outboard()`` of data fed in pieces of any size, without keeping the data.

    ``update()`` as often as needed, then ``finalize()`` once for ``(root, bao)``.
    """

    __slots__ = ("_builder",)

    def __init__(self, shift: int = 4, format: BaoFormat = "pre_order") -> None:
        self._builder = _bao.OutboardBuilder(
            _checked_shift("shift", shift), _checked_format("format", format)
        )

    def update(self, data: Buffer) -> None:
        """Feeds the next bytes of the blob."""
        self._builder.update(data)

    def finalize(self) -> tuple[bytes, bytes]:
        """``(root, bao)`` of everything fed, equal to ``outboard()`` of it; only once."""
        return self._builder.finalize()

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._builder.size


class Verifier:
    """Checks a stream against ``root`` and its bao, releasing only bytes that verified.

    The constructor checks the bao itself against ``root`` (so a malformed or wrong bao fails
    before any data). ``update()`` returns the bytes of the groups completed and checked by that
    call (possibly ``b""``); ``finalize()`` returns the rest and raises if the stream was short.
    After any error the verifier stays failed.

    ``start``/``end`` select a window ``[start, end)`` of the blob: both on group boundaries
    (``end`` may also be ``size``); then only the window's bytes are fed and returned.
    """

    __slots__ = ("_verifier",)

    def __init__(
        self,
        root: Buffer,
        size: int,
        outboard: Buffer,
        shift: int = 4,
        format: BaoFormat = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self._verifier = _bao.Verifier(
            root,
            _checked_size("size", size),
            outboard,
            _checked_shift("shift", shift),
            _checked_format("format", format),
            _checked_size("start", start),
            None if end is None else _checked_size("end", end),
        )

    @classmethod
    def from_proof(
        cls,
        root: Buffer,
        size: int,
        proof: Buffer,
        shift: int = 4,
        format: BaoFormat = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> Verifier:
        """A verifier of the window ``[start, end)`` given the window's proof instead of the
        whole bao (same ``update``/``finalize`` contract). The proof is checked against ``root``
        here, before any data; the window must be group-aligned (``window()`` rounds one) and
        not empty unless the blob is. ``MalformedBaoError`` for a proof of the wrong length,
        ``MismatchError`` for one that does not match (another window's, a flipped bit, a wrong
        size)."""
        verifier = cls.__new__(cls)
        verifier._verifier = _bao.Verifier.from_proof(
            root,
            _checked_size("size", size),
            proof,
            _checked_shift("shift", shift),
            _checked_format("format", format),
            _checked_size("start", start),
            None if end is None else _checked_size("end", end),
        )
        return verifier

    def update(self, data: Buffer) -> bytes:
        """Feeds the next bytes; returns those verified by this call, in order."""
        return self._verifier.update(data)

    def finalize(self) -> bytes:
        """Returns the remaining verified bytes; ``BaoError`` if the window was not complete."""
        return self._verifier.finalize()

    @property
    def received(self) -> int:
        """Bytes fed so far."""
        return self._verifier.received

    @property
    def released(self) -> int:
        """Bytes verified and returned so far."""
        return self._verifier.released
