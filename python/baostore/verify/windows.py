"""A blob's windows from an untrusted source: asked for by ranged Stat, checked, one fetched ahead.

Opening a blob asks for the window of its first group (and the blob inline when it is small):
its proof proves the size before anything else is believed, at the least cost. A reader
then asks for the window at its position whenever it needs one, and for the next one while the
current one streams. A source that answers without a window (a server without ranged Stat)
answered for the whole blob: that whole-blob window serves every position from then on.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from baostore import bao
from baostore.errors import StoreError, VerificationError
from baostore.store.interface import BaoFormat, BlobStore, ByteRange, ReadStats, check_digest
from baostore.verify.layout import ReadOptions, Window, layout_from_stat, window_from_stat

# Stats for windows asked ahead that may run at once.
WINDOW_FETCHERS = 2


class Windows:
    """The windows of blob ``digest`` (``size`` bytes, proven by the first window) from
    ``source``. ``whole``: the source answered for the whole blob, which serves every window."""

    def __init__(
        self,
        source: BlobStore,
        digest: bytes,
        size: int,
        options: ReadOptions,
        whole: Window | None = None,
    ) -> None:
        self.source = source
        self.digest = digest
        self.size = size
        self.options = options
        self._whole = whole
        self._lock = threading.Lock()
        self._ahead: dict[ByteRange, Future[Window]] = {}
        self._pool: ThreadPoolExecutor | None = None
        # What reading this blob cost: the windows fetched here, the chunks by the reader's
        # ChunkSource, which shares this object.
        self.stats = ReadStats()

    def at(self, start: int, end: int | None) -> Window:
        """The window from group boundary ``start`` towards ``end`` (None: as far as the source
        answers), checked: a window fetched ahead for the same range, or a new Stat."""
        whole = self._whole
        if whole is not None:
            return whole
        asked = ByteRange(start, end)
        with self._lock:
            ahead = self._ahead.pop(asked, None)
            # Windows asked ahead from before this one will not be read.
            for stale in [key for key in self._ahead if key.start < start]:
                self._ahead.pop(stale).cancel()
        if ahead is not None:
            return ahead.result()
        return self._fetch(asked)

    def prefetch(self, start: int, end: int | None) -> None:
        """Start fetching the window ``at(start, end)`` will ask for, in the background."""
        if self._whole is not None or start >= self.size:
            return
        asked = ByteRange(start, end)
        with self._lock:
            if asked in self._ahead:
                return
            for stale in [key for key in self._ahead if key.start == start]:
                self._ahead.pop(stale).cancel()  # asked again with another end
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    WINDOW_FETCHERS, thread_name_prefix="baostore-window"
                )
            self._ahead[asked] = self._pool.submit(self._fetch, asked)

    def close(self) -> None:
        """Stop fetching ahead (nothing waits for a Stat in flight)."""
        with self._lock:
            pool, self._pool = self._pool, None
            ahead, self._ahead = self._ahead, {}
        for future in ahead.values():
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, asked: ByteRange) -> Window:
        options = self.options
        stat = self.source.stat(
            self.digest,
            send_chunks=True,
            send_bao=True,
            bao_shift=options.bao_shift,
            bao_format=options.bao_format,
            range=asked,
        )
        if stat is None:
            raise StoreError(f"the source no longer has blob {self.digest.hex()}")
        if stat.size != self.size:
            raise VerificationError(
                f"the source claimed {self.size} bytes for the blob, now {stat.size}"
            )
        if stat.window is None:
            window = layout_from_stat(self.digest, stat, options)
            if window.bao_shift != options.bao_shift:
                # Windows came before at the asked shift; a read cannot change its groups midway.
                raise VerificationError(
                    f"the source answered windows at shift {options.bao_shift}, then the whole "
                    f"blob at shift {window.bao_shift}"
                )
            self._whole = window
        else:
            window = window_from_stat(self.digest, stat, options, asked)
        self.count(window)
        return window

    def count(self, window: Window) -> None:
        """Count ``window`` as fetched from the source."""
        with self._lock:
            self.stats.windows_fetched += 1
            self.stats.proof_bytes += len(window.proof)


@dataclass(frozen=True)
class BlobLayout:
    """What opening a blob proved: its size (by the first window's proof), shift and format, the
    data inline when the blob is small, and where its windows come from."""

    digest: bytes
    first: Window
    windows: Windows

    @property
    def size(self) -> int:
        return self.first.size

    @property
    def bao_shift(self) -> int:
        return self.first.bao_shift

    @property
    def bao_format(self) -> BaoFormat:
        return self.first.bao_format

    @property
    def inline(self) -> bytes | None:
        return self.first.inline

    @property
    def group_size(self) -> int:
        return bao.group_size(self.bao_shift)


def fetch_layout(
    source: BlobStore, digest: bytes, options: ReadOptions, *, first_window: int | None = None
) -> BlobLayout | None:
    """Ask ``source`` for the window of the blob's first group (``first_window`` bytes: a
    larger first window, when the caller will need it) and the data inline if it is small, and
    check it; None if the source lacks the blob."""
    digest = check_digest(digest)
    asked = ByteRange(0, max(first_window or 0, bao.group_size(options.bao_shift)))
    stat = source.stat(
        digest,
        send_chunks=True,
        send_bao=True,
        bao_shift=options.bao_shift,
        bao_format=options.bao_format,
        inline_limit=options.inline_limit,
        range=asked,
    )
    if stat is None:
        return None
    if stat.window is None:
        first = layout_from_stat(digest, stat, options)
    else:
        first = window_from_stat(digest, stat, options, asked)
    whole = first if first.whole else None
    windows = Windows(source, digest, first.size, options, whole)
    windows.count(first)
    return BlobLayout(digest, first, windows)
