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
    """One check: the file's windows, each read into a buffer of its thread and verified."""

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
        windows = list(self._windows())
        spans: list[Span] = []
        if threads <= 1 or len(windows) <= 1:
            for window in windows:
                spans += self._check(window)
                if advance is not None:
                    advance(window.end - window.start)
            return Ranges.of(spans)
        with ThreadPoolExecutor(threads, thread_name_prefix="baostore-check") as pool:
            pending: deque[tuple[_Window, Future[list[Span]]]] = deque()
            for window in windows:
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
        """Windows of whole groups inside ``[start, end)`` (a window may end at the blob's end;
        groups cut by the range's ends cannot be checked from the file alone): coarse groups in
        the middle, and the fine groups before the first and after the last coarse boundary."""
        fine_start, fine_end = self._whole_groups(self.fine.shift)
        fast_start, fast_end = self._whole_groups(self.fast.shift)
        if fast_start >= fast_end:
            fast_start = fast_end = fine_end
        step = max(bao.group_size(self.fast.shift), WINDOW_SIZE)
        edges = [
            _Window(fine_start, fast_start, self.fine),
            *(
                _Window(window_start, min(window_start + step, fast_end), self.fast)
                for window_start in range(fast_start, fast_end, step)
            ),
            _Window(fast_end, fine_end, self.fine),
        ]
        return (window for window in edges if window.start < min(window.end, self.data_end))

    def _whole_groups(self, shift: int) -> Span:
        """The groups at ``shift`` that lie wholly inside ``[start, end)``, as a byte span."""
        group = bao.group_size(shift)
        first = -(-self.start // group) * group
        last = self.end if self.end == self.fine.size else self.end // group * group
        return first, max(first, last)

    def _check(self, window: _Window) -> list[Span]:
        length = window.end - window.start
        buffer = self._buffer(length)
        with memoryview(buffer) as view:
            read = _read_at(self.descriptor, view[:length], window.start - self.start)
            if read < min(window.end, self.data_end) - window.start:
                self.shrank = True
            with view[:read] as data:
                return self._verified(window.bao, window.start, window.end, data)

    def _verified(
        self, blob: BlobBao, window_start: int, window_end: int, data: memoryview
    ) -> list[Span]:
        """The verified spans of ``data`` (the file's bytes from blob offset ``window_start``,
        possibly fewer than the window has). After damage the next verifier covers one group,
        and each one that checks out twice as many as the last: a run of damage costs a
        verifier per bad group, a long good stretch few verifiers."""
        group = bao.group_size(blob.shift)
        data_end = window_start + len(data)
        spans: list[Span] = []
        position = window_start
        step = window_end - window_start
        while position < min(window_end, data_end):
            verifier, stop = blob.verifier_from(position, min(window_end, position + step))
            stop = min(stop, window_end)
            try:
                verifier.check(data[position - window_start : min(stop, data_end) - window_start])
                good = verifier.verified
                damaged = False
            except bao.BaoError:
                good = verifier.verified
                damaged = True
            if good:
                spans.append((position, position + good))
            bad = position + good
            if not damaged:
                if bad < min(stop, data_end) and blob is not self.fine:
                    # The data ends inside a group: its finer groups may be whole.
                    with data[bad - window_start : data_end - window_start] as tail:
                        spans += self._verified(self.fine, bad, min(bad + group, blob.size), tail)
                position = stop
                step *= 2
                continue
            bad_end = min(bad + group, blob.size)
            if blob is not self.fine:  # which finer groups of the damaged one are intact?
                with data[bad - window_start : bad_end - window_start] as bad_data:
                    spans += self._verified(self.fine, bad, bad_end, bad_data)
            position = bad_end
            step = group
        return spans

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
    """Blob bytes ``[start, end)`` checked as one task, with ``bao``'s groups."""

    start: int
    end: int
    bao: BlobBao


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
