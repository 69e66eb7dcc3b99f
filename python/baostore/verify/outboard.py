"""Outboards: a blob's bao kept apart from its data (a file beside a download, or a Stat answer),
as the verifier of any window of the blob.

Three file formats: ``pre_order`` and ``leaves`` (baostore's bao formats, no size inside: the size
comes from elsewhere) and ``bao``, the ``bao`` CLI's outboard (``bao encode --outboard``): the
size as 8 little-endian bytes, then the shift-0 ``pre_order`` bao. Whatever the format, an
``Outboard`` holds the ``pre_order`` bao, from which the proof of any window is cut in
O(log n + window): a verifier for a window costs what the window costs, not what the blob does.

Nothing in an outboard file is trusted: its length must be what the size needs at its shift, and
all of it must check out against the digest before any data is looked at (a wrong outboard — of
another blob, another shift or another size, or damaged — is an ``OutboardError``, never data
reported as damaged or verified). Every window's proof is checked again as it is used.
"""

from __future__ import annotations

import mmap
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal, get_args

from typing_extensions import Buffer

from baostore import bao
from baostore.bao import BaoFormat, Verifier
from baostore.store.interface import DEFAULT_BAO_SHIFT, PIECE_SIZE, check_digest
from baostore.verify.layout import Window
from baostore.verify.local import WINDOW_SIZE

OutboardFormat = Literal["pre_order", "leaves", "bao"]
OUTBOARD_FORMATS: Final[tuple[OutboardFormat, ...]] = get_args(OutboardFormat)
# The bao CLI's format: its size prefix, and the one shift it knows (1 KiB chunks, no groups).
BAO_CLI_FORMAT: Final = "bao"
BAO_CLI_SHIFT: Final = 0
_BAO_CLI_PREFIX = 8
_PAIR = 64  # a parent in pre_order: left CV || right CV


class OutboardError(ValueError):
    """An outboard that cannot describe the blob: malformed, or not the blob's (another blob,
    shift or size, or damaged)."""


@dataclass(frozen=True)
class Outboard:
    """The bao of blob ``digest`` (``size`` bytes) at ``shift``, kept as ``pre_order`` bytes.

    ``verifier(start, end)`` verifies any group-aligned window from that window's proof (checked
    against the digest first). Build one with ``load`` (a file), ``from_bytes``, ``of_file``
    (computed from the data) or ``from_window`` (a verified whole-blob Stat answer; a store's
    bao of a blob of any size, window by window, is a ``StoreBao``).
    """

    digest: bytes
    size: int
    shift: int
    pre_order: bytes

    @property
    def group_size(self) -> int:
        return bao.group_size(self.shift)

    def verifier(self, start: int = 0, end: int | None = None) -> Verifier:
        """A verifier of the window ``[start, end)`` (group-aligned; ``end`` None: the size).
        OutboardError when the outboard's proof of the window does not match the digest."""
        end = self.size if end is None else end
        try:
            proof = bao.window_proof(self.pre_order, self.size, self.shift, "pre_order", start, end)
            return Verifier.from_proof(
                self.digest, self.size, proof, self.shift, "pre_order", start, end
            )
        except bao.BaoError as error:
            raise OutboardError(
                f"the outboard does not match blob {self.digest.hex()} "
                f"(bytes {start}:{end}): {error}"
            ) from None

    def verifier_from(self, start: int, end: int) -> tuple[Verifier, int]:
        """A verifier from ``start`` towards ``end``, of at most WINDOW_SIZE bytes (so that a
        check spreads over threads), and where it stops (BlobBao)."""
        stop = min(end, start + max(WINDOW_SIZE, self.group_size))
        return self.verifier(start, stop), stop

    def coarsened(self, shift: int) -> Outboard:
        """The same bao at a coarser ``shift`` (fewer, larger groups), without the data."""
        if shift <= self.shift:
            return self
        coarse = bao.coarsen(self.pre_order, self.size, self.shift, shift, "pre_order")
        return Outboard(self.digest, self.size, shift, coarse)

    def encode(self, format: OutboardFormat) -> bytes:
        """The outboard file's bytes in ``format`` (``bao`` needs shift 0)."""
        if format == BAO_CLI_FORMAT:
            if self.shift != BAO_CLI_SHIFT:
                raise ValueError(f"the bao CLI's format is at shift 0, not {self.shift}")
            return bao.encode_bao_cli_outboard(self.pre_order, self.size)
        if format == "leaves":
            return bao.convert_format(self.pre_order, self.size, self.shift, "pre_order", "leaves")
        return self.pre_order

    # -- making one ---------------------------------------------------------------------

    @classmethod
    def from_bytes(
        cls,
        digest: bytes,
        data: Buffer,
        format: OutboardFormat,
        *,
        shift: int | None = None,
        size: int | None = None,
    ) -> Outboard:
        """The outboard held in ``data`` (a file's bytes in ``format``), checked.

        ``bao`` states its size and is at shift 0; ``pre_order`` and ``leaves`` need ``size`` and
        are at ``shift`` (None: the default, 4).
        OutboardError when the length does not fit the size at the shift, or when the bao does
        not match the digest.
        """
        digest = check_digest(digest)
        if format == BAO_CLI_FORMAT:
            try:
                stated, pre_order = bao.decode_bao_cli_outboard(data)
            except bao.BaoError as error:
                raise OutboardError(f"not a bao CLI outboard: {error}") from None
            if size is not None and size != stated:
                raise OutboardError(f"the outboard is of a {stated}-byte blob, not of {size} bytes")
            if shift not in (None, BAO_CLI_SHIFT):
                raise OutboardError(f"a bao CLI outboard is at shift 0, not {shift}")
            return cls._checked(digest, stated, BAO_CLI_SHIFT, pre_order)
        shift = DEFAULT_BAO_SHIFT if shift is None else shift
        if size is None:
            low, high = sizes_for_length(len(memoryview(data)), shift, format)
            raise OutboardError(
                f"a {format} outboard does not say the blob's size (here {low}..{high} bytes "
                "at this shift): give it"
            )
        expected = _length(size, shift, format)
        if len(memoryview(data)) != expected:
            low, high = sizes_for_length(len(memoryview(data)), shift, format)
            length = len(memoryview(data))
            fits = f"{low}..{high} bytes" if low <= high else "no blob"
            hint = "another blob, another shift, or truncated"
            if length >= _BAO_CLI_PREFIX and (length - _BAO_CLI_PREFIX) % _PAIR == 0:
                hint += f" (or the bao CLI's format: {BAO_CLI_FORMAT})"
            raise OutboardError(
                f"the outboard has {length} bytes: a {format} bao at shift {shift} of {fits}, "
                f"not of {size} bytes ({expected} bytes): {hint}"
            )
        pre_order = bytes(data)
        if format == "leaves" and pre_order:
            pre_order = bao.convert_format(pre_order, size, shift, "leaves", "pre_order")
        return cls._checked(digest, size, shift, pre_order)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        digest: bytes,
        format: OutboardFormat,
        *,
        shift: int | None = None,
        size: int | None = None,
    ) -> Outboard:
        """The outboard file at ``path`` (read whole), checked as ``from_bytes`` does."""
        return cls.from_bytes(digest, Path(path).read_bytes(), format, shift=shift, size=size)

    @classmethod
    def from_window(cls, window: Window) -> Outboard:
        """The bao of a whole-blob window a source answered (already checked against the
        digest)."""
        if not window.whole:
            raise ValueError(f"window [{window.start}, {window.end}) is not the whole blob")
        pre_order = window.proof
        if window.bao_format != "pre_order" and pre_order:
            pre_order = bao.convert_format(
                pre_order, window.size, window.bao_shift, window.bao_format, "pre_order"
            )
        return cls(window.digest, window.size, window.bao_shift, pre_order)

    @classmethod
    def of_file(
        cls, path: str | os.PathLike[str], shift: int = DEFAULT_BAO_SHIFT, threads: int = 1
    ) -> Outboard:
        """The outboard of the file at ``path`` (``-``: stdin), computed from its data: a regular
        file memory-mapped and hashed on ``threads`` threads, anything else read in pieces."""
        with _mapped(path) as data:
            if data is not None:
                root, pre_order = bao.outboard(data, shift, "pre_order", threads)
                return cls(root, len(data), shift, pre_order)
        builder = bao.OutboardBuilder(shift, "pre_order")
        with _opened_for_reading(path) as stream:
            while piece := stream.read(PIECE_SIZE):
                builder.update(piece)
        root, pre_order = builder.finalize()
        return cls(root, builder.size, shift, pre_order)

    @classmethod
    def _checked(cls, digest: bytes, size: int, shift: int, pre_order: bytes) -> Outboard:
        outboard = cls(digest, size, shift, pre_order)
        # Checked whole now (a small fraction of hashing the data: 1/256 of it at shift 4), so
        # that an outboard of another blob, shift or size, or a damaged one, is refused before
        # any data is read, even in parts of the tree a check would not otherwise look at.
        outboard.verifier()
        return outboard


def sizes_for_length(length: int, shift: int, format: BaoFormat) -> tuple[int, int]:
    """The blob sizes whose bao at ``shift`` in ``format`` has ``length`` bytes, as
    ``(smallest, largest)`` (smallest > largest: no size has that length)."""
    group = bao.group_size(shift)
    unit = _PAIR if format == "pre_order" else _PAIR // 2
    if length == 0:
        return 0, group
    if length % unit:
        return 1, 0
    groups = length // unit + (1 if format == "pre_order" else 0)
    if groups < 2:
        return 1, 0
    return (groups - 1) * group + 1, groups * group


def _length(size: int, shift: int, format: BaoFormat) -> int:
    try:
        return bao.outboard_size(size, shift, format)
    except ValueError as error:
        raise OutboardError(f"no bao for a blob of {size} bytes: {error}") from None


@contextmanager
def _mapped(path: str | os.PathLike[str]) -> Iterator[memoryview | None]:
    """A regular file's bytes, memory-mapped (an empty file: no bytes); None for anything else
    (stdin, a pipe, a device), which is read in pieces instead."""
    if str(path) == "-":
        yield None
        return
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            yield None
            return
        if info.st_size == 0:
            yield memoryview(b"")
            return
        with (
            mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
            memoryview(mapped) as view,
        ):
            yield view


@contextmanager
def _opened_for_reading(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as file:
        yield file
