"""Checking a local copy of a blob (or of a byte range of it), group by group, against its bao.

A download of any shape — interrupted, with holes, damaged in the middle, too short or too long,
made by any tool — is read once and every chunk group in it checked against the blob's bao:
the answer (``FileCheck``) says which bytes verified and which are damaged or missing. Nothing is
assumed about the file: its bytes are read (never mapped, so a file cut short meanwhile cannot
crash the reader), and a file that changes while it is read is reported as changed, never as
complete.

Speed: windows of the file are read and verified on several threads (the verifier releases the
GIL, reads go straight into reused buffers); a bao finer than shift 4 is checked at shift 4 first
(the verifier is slower than hashing for small groups) and only a damaged coarse group is looked
at again at the bao's own shift.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from baostore import bao
from baostore.bao import Verifier
from baostore.sizes import MiB
from baostore.verify.ranges import Ranges, Span

# Bytes read and verified as one task.
WINDOW_SIZE = 8 * MiB
# Below this shift the verifier is slower than plain hashing: check coarser groups first.
FAST_SHIFT = 4
# At most this many threads by default (a local disk rarely feeds more).
MAX_DEFAULT_THREADS = 4

Advance = Callable[[int], None]


class BlobBao(Protocol):
    """What checking a local copy needs of a blob's bao: its geometry and verifiers of its
    windows (``Outboard`` holds the bao in memory; a source may answer window by window)."""

    @property
    def digest(self) -> bytes: ...

    @property
    def size(self) -> int: ...

    @property
    def shift(self) -> int: ...

    def verifier_from(self, start: int, end: int) -> tuple[Verifier, int]:
        """A verifier of the window from group boundary ``start`` towards ``end``, and where
        that window ends (``end``, or elsewhere on a group boundary when the bao's source
        answers a shorter or a longer window at once)."""

    def coarsened(self, shift: int) -> BlobBao:
        """The same bao at a coarser ``shift``."""


@dataclass(frozen=True)
class FileCheck:
    """What a check of a local file found. The file should hold the blob's bytes
    ``[start, end)`` from its first byte on; every range here is in blob offsets."""

    digest: bytes
    blob_size: int
    start: int
    end: int
    file_size: int
    verified: Ranges
    changed: bool = False

    @property
    def expected(self) -> Ranges:
        """The bytes the file should hold."""
        return Ranges.span(self.start, self.end)

    @property
    def unverified(self) -> Ranges:
        """Bytes still to be fetched: damaged or missing."""
        return self.expected - self.verified

    @property
    def missing(self) -> Ranges:
        """Bytes past the end of the file."""
        return self.expected - Ranges.span(self.start, self.start + self.file_size)

    @property
    def damaged(self) -> Ranges:
        """Bytes the file has that did not verify (a hole, a bad block, a partial group)."""
        return self.unverified - self.missing

    @property
    def extra(self) -> int:
        """Bytes the file has beyond the end of what it should hold."""
        return max(0, self.file_size - (self.end - self.start))

    @property
    def complete(self) -> bool:
        """Whether the file is exactly the bytes it should hold, every one verified, and did
        not change while it was checked."""
        return not self.unverified and not self.extra and not self.changed

    def record(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "digest": self.digest.hex(),
            "size": self.blob_size,
            "range": [self.start, self.end],
            "file_size": self.file_size,
            "complete": self.complete,
            "changed": self.changed,
            "verified": self.verified.as_lists(),
            "damaged": self.damaged.as_lists(),
            "missing": self.missing.as_lists(),
            "extra": self.extra,
        }


class NotAFileError(OSError):
    """The path names something that holds no bytes to check (a pipe, a socket, a character
    device) or a directory."""


def check_file(
    file: str | os.PathLike[str] | int,
    blob: BlobBao,
    *,
    start: int = 0,
    end: int | None = None,
    threads: int | None = None,
    advance: Advance | None = None,
) -> FileCheck:
    """Check every chunk group of ``file`` against ``blob``'s bao.

    ``file`` is a path (a regular file or a block device) or an open descriptor (read with
    ``pread``; its position is left alone). It should hold the blob's bytes ``[start, end)``
    (default: all of it) from its first byte on. ``threads`` (default: the cores, at most 4)
    verify windows side by side; ``advance(n)`` is told of every ``n`` bytes checked.

    Raises NotAFileError for a directory, a pipe or a character device, OSError when the file
    cannot be read, OutboardError when the bao itself does not match the digest.
    """
    end = blob.size if end is None else end
    if not 0 <= start <= end <= blob.size:
        raise ValueError(f"range {start}:{end} is not within the blob's {blob.size} bytes")
    with _opened(file) as descriptor:
        before = os.fstat(descriptor)
        file_size = _size_of(descriptor, before)
        checker = _Checker(descriptor, blob, start, end, file_size)
        try:
            verified = checker.run(threads or _default_threads(), advance)
        finally:
            checker.give_back()
        after = os.fstat(descriptor)
        changed = (
            checker.shrank
            or (before.st_mtime_ns, before.st_ctime_ns) != (after.st_mtime_ns, after.st_ctime_ns)
            or _size_of(descriptor, after) != file_size
        )
    return FileCheck(
        digest=blob.digest,
        blob_size=blob.size,
        start=start,
        end=end,
        file_size=file_size,
        verified=verified,
        changed=changed,
    )


class _Checker:
    """One check: the file's windows (as the bao answers them), each read piece by piece into a
    buffer of its thread and verified."""

    def __init__(
        self, descriptor: int, blob: BlobBao, start: int, end: int, file_size: int
    ) -> None:
        self.descriptor = descriptor
        self.fine = blob
        self.fast = blob.coarsened(FAST_SHIFT) if blob.shift < FAST_SHIFT else blob
        self.start = start
        self.end = end
        # Where the file's data ends, in blob offsets.
        self.data_end = min(end, start + file_size)
        # Set when a read ended before data_end: the file was cut while it was read.
        self.shrank = False
        self._buffers = threading.local()
        self._taken: list[bytearray] = []
        self._lock = threading.Lock()

    def run(self, threads: int, advance: Advance | None) -> Ranges:
        spans: list[Span] = []
        if threads <= 1:
            for window in self._windows():
                spans += self._check(window)
                if advance is not None:
                    advance(window.end - window.start)
            return Ranges.of(spans)
        with ThreadPoolExecutor(threads, thread_name_prefix="baostore-check") as pool:
            pending: deque[tuple[_Window, Future[list[Span]]]] = deque()
            for window in self._windows():
                pending.append((window, pool.submit(self._check, window)))
                if len(pending) > 2 * threads:
                    spans += self._collect(pending, advance)
            while pending:
                spans += self._collect(pending, advance)
        return Ranges.of(spans)

    @staticmethod
    def _collect(
        pending: deque[tuple[_Window, Future[list[Span]]]], advance: Advance | None
    ) -> list[Span]:
        window, future = pending.popleft()
        result = future.result()
        if advance is not None:
            advance(window.end - window.start)
        return result

    def _windows(self) -> Iterator[_Window]:
        """The windows to check, each with its verifier, as the bao answers them: of whole
        groups inside ``[start, end)`` (a window may end at the blob's end; groups cut by the
        range's ends cannot be checked from the file alone), coarse groups in the middle and the
        fine ones before the first and after the last coarse boundary."""
        fine_start, fine_end = self._whole_groups(self.fine.shift)
        fast_start, fast_end = self._whole_groups(self.fast.shift)
        if fast_start >= fast_end:
            fast_start = fast_end = fine_end
        regions = (
            (self.fine, fine_start, fast_start),
            (self.fast, fast_start, fast_end),
            (self.fine, fast_end, fine_end),
        )
        for blob, region_start, region_end in regions:
            position = region_start
            while position < min(region_end, self.data_end):
                verifier, stop = blob.verifier_from(position, region_end)
                stop = min(stop, region_end)
                yield _Window(position, stop, blob, verifier)
                position = stop

    def _whole_groups(self, shift: int) -> Span:
        """The groups at ``shift`` that lie wholly inside ``[start, end)``, as a byte span."""
        group = bao.group_size(shift)
        first = -(-self.start // group) * group
        last = self.end if self.end == self.fine.size else self.end // group * group
        return first, max(first, last)

    def _check(self, window: _Window) -> list[Span]:
        """Read the window in pieces of whole groups and feed them on."""
        piece_size = max(WINDOW_SIZE, bao.group_size(window.bao.shift))
        feed = _Feed(self, window.bao, window.start, window.end, window.verifier)
        buffer = self._buffer(min(piece_size, window.end - window.start))
        with memoryview(buffer) as view:
            for piece_start in range(window.start, min(window.end, self.data_end), piece_size):
                wanted = min(piece_start + piece_size, window.end) - piece_start
                read = _read_at(self.descriptor, view[:wanted], piece_start - self.start)
                if read < min(wanted, self.data_end - piece_start):
                    self.shrank = True
                with view[:read] as data:
                    feed.piece(piece_start, data, last=read < wanted)
                if read < wanted:
                    break
        return feed.spans

    def _buffer(self, length: int) -> bytearray:
        """This thread's read buffer, of at least ``length`` bytes (reused: no allocation and
        no page faults per window, nor per check: buffers go back to the pool)."""
        buffer: bytearray | None = getattr(self._buffers, "buffer", None)
        if buffer is None or len(buffer) < length:
            buffer = _BUFFERS.take(length)
            self._buffers.buffer = buffer
            with self._lock:
                self._taken.append(buffer)
        return buffer

    def give_back(self) -> None:
        """Return the read buffers to the pool (once no thread uses them)."""
        with self._lock:
            taken, self._taken = self._taken, []
        _BUFFERS.give_back(taken)


class _Feed:
    """A window's bytes fed in order (in pieces of whole groups) through verifiers of ``blob``,
    collecting the verified spans. After damage the next verifier covers one group, and each
    one that checks out twice as many as the last: a run of damage costs a verifier per bad
    group, a long good stretch few. Where a coarse group fails, or the data ends inside one,
    its finer groups are looked at too."""

    def __init__(
        self,
        checker: _Checker,
        blob: BlobBao,
        start: int,
        end: int,
        verifier: Verifier | None = None,
    ) -> None:
        self.checker = checker
        self.blob = blob
        self.group = bao.group_size(blob.shift)
        self.end = end
        self.spans: list[Span] = []
        self.step = end - start
        self.verifier = verifier
        self.verifier_start = start
        self.verifier_stop = end

    def piece(self, piece_start: int, data: memoryview, *, last: bool) -> None:
        """Feed the bytes ``data`` holds from ``piece_start``; ``last``: the data ends there."""
        piece_end = piece_start + len(data)
        position = piece_start
        while position < piece_end:
            verifier = self.verifier
            if verifier is None:
                verifier, stop = self.blob.verifier_from(
                    position, min(self.end, position + self.step)
                )
                self.verifier, self.verifier_start = verifier, position
                self.verifier_stop = min(stop, self.end)
            upto = min(piece_end, self.verifier_stop)
            try:
                verifier.check(data[position - piece_start : upto - piece_start])
            except bao.BaoError:
                bad = self._close()
                bad_end = min(bad + self.group, self.blob.size)
                self._refine(bad, data[bad - piece_start : bad_end - piece_start])
                position, self.step = bad_end, self.group
                continue
            if upto == self.verifier_stop:
                self._close()
                self.step *= 2
            position = upto
        if last and self.verifier is not None:  # the data ends inside a group
            tail = self._close()
            self._refine(tail, data[tail - piece_start :])

    def _close(self) -> int:
        """Record what the current verifier verified; where that ends."""
        assert self.verifier is not None
        verified_end = self.verifier_start + self.verifier.verified
        if verified_end > self.verifier_start:
            self.spans.append((self.verifier_start, verified_end))
        self.verifier = None
        return verified_end

    def _refine(self, start: int, data: memoryview) -> None:
        """Which finer groups of the coarse group at ``start`` (its bytes: ``data``) verify."""
        fine = self.checker.fine
        if self.blob is fine or not data:
            return
        feed = _Feed(self.checker, fine, start, min(start + self.group, fine.size))
        feed.piece(start, data, last=True)
        self.spans += feed.spans


class _BufferPool:
    """Read buffers kept between checks: a fresh one costs a page fault per 4 KiB written."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, length: int) -> bytearray:
        with self._lock:
            for index, buffer in enumerate(self._free):
                if len(buffer) >= length:
                    return self._free.pop(index)
        return bytearray(length)

    def give_back(self, buffers: list[bytearray]) -> None:
        with self._lock:
            self._free = [*buffers, *self._free][: self._keep]


_BUFFERS = _BufferPool(keep=MAX_DEFAULT_THREADS)


@dataclass(frozen=True)
class _Window:
    """Blob bytes ``[start, end)`` checked as one task, with ``bao``'s groups, starting with
    ``verifier`` (of that window, from the bao)."""

    start: int
    end: int
    bao: BlobBao
    verifier: Verifier


def _read_at(descriptor: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset`` of the file; fewer bytes only at its end."""
    filled = 0
    while filled < len(view):
        count = os.preadv(descriptor, [view[filled:]], offset + filled)
        if count == 0:
            break
        filled += count
    return filled


@contextmanager
def _opened(file: str | os.PathLike[str] | int) -> Iterator[int]:
    """A descriptor of ``file`` that holds bytes to check: a regular file or a block device."""
    if isinstance(file, int):
        _check_kind(os.fstat(file), f"descriptor {file}")
        yield file
        return
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after).
    descriptor = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check_kind(os.fstat(descriptor), os.fspath(file))
        yield descriptor
    finally:
        os.close(descriptor)


def _check_kind(info: os.stat_result, name: str | bytes) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise NotAFileError(errno.EISDIR, "is a directory, not a file to check", name)
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISBLK(info.st_mode)):
        raise NotAFileError(
            errno.EINVAL,
            "is not a regular file or a block device (a pipe, socket or character device "
            "holds no bytes to check in place)",
            name,
        )


def file_size(path: str | os.PathLike[str]) -> int:
    """The size of the file (or block device) at ``path``."""
    with _opened(path) as descriptor:
        return _size_of(descriptor, os.fstat(descriptor))


def _size_of(descriptor: int, info: os.stat_result) -> int:
    if stat.S_ISBLK(info.st_mode):
        return os.lseek(descriptor, 0, os.SEEK_END)
    return info.st_size


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_THREADS))
