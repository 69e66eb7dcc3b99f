"""A blob's bao as a store answers it, window by window: what checking and completing a local
copy needs of a store (``BlobBao``: a verifier of any window; and the chunks of any range).

A store with ranged Stat answers each window's proof (O(log n + window), checked against the
digest as it arrives), so a local copy of a blob of any size is checked with bounded memory and
one Stat per window (of up to ``ReadOptions.window_size``, 64 MiB; ``open_checking`` asks for
the first one that large, so a blob up to that size costs one Stat); a store without ranged Stat
answers the whole bao once, which is then kept as an ``Outboard``.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from baostore.bao import Verifier
from baostore.errors import NotFoundError, VerificationError
from baostore.store.interface import DEFAULT_BAO_SHIFT, BaoFormat, BlobStore
from baostore.verify.layout import ChunkSpan, ReadOptions, Window
from baostore.verify.outboard import Outboard
from baostore.verify.windows import BlobLayout, Windows, fetch_layout


class StoreBao:
    """The bao of the blob ``layout`` opened (a ``BlobBao``), window by window from its source."""

    def __init__(self, layout: BlobLayout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        # A whole-blob answer (a store without ranged Stat) serves every window.
        self._whole_window: Window | None = None
        self._whole: Outboard | None = None
        self._recent: Window | None = None  # the last window asked for chunk spans
        if layout.first.whole:
            self._keep_whole(layout.first)

    @classmethod
    def open(
        cls,
        store: BlobStore,
        digest: bytes,
        *,
        shift: int = DEFAULT_BAO_SHIFT,
        format: BaoFormat = "pre_order",
    ) -> StoreBao | None:
        """The bao of blob ``digest`` as ``store`` answers it (checked against the digest: any
        store will do, an untrusted one included); None if it lacks the blob."""
        layout = open_checking(store, digest, ReadOptions(bao_shift=shift, bao_format=format))
        return None if layout is None else cls(layout)

    @property
    def digest(self) -> bytes:
        return self.layout.digest

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def shift(self) -> int:
        return self.layout.bao_shift

    @property
    def group_size(self) -> int:
        return self.layout.group_size

    def verifier_from(self, start: int, end: int) -> tuple[Verifier, int]:
        """A verifier of the window the store answers from ``start`` towards ``end`` (at most
        the read options' window size): the first window opening the blob answered, else a
        Stat."""
        whole = self._whole
        if whole is not None:
            return whole.verifier_from(start, end)
        first = self.layout.first
        if first.start == start:
            return first.verifier(), first.end
        window = self._window_from(start, end)
        if window.whole:  # a store without ranged Stat: its one answer serves every window
            return self._keep_whole(window).verifier_from(start, end)
        return window.verifier(), window.end

    def coarsened(self, shift: int) -> StoreBao | Outboard:
        """The same bao at a coarser ``shift``: derived from a whole bao, else asked for (the
        store, which has the blob, also answers at another shift)."""
        if shift <= self.shift:
            return self
        whole = self._whole
        if whole is not None:
            return whole.coarsened(shift)
        windows = self.layout.windows
        options = replace(windows.options, bao_shift=shift)
        layout = open_checking(windows.source, self.digest, options)
        if layout is None:
            raise NotFoundError(f"the store no longer has blob {self.digest.hex()}")
        return StoreBao(layout)

    def spans(self, start: int, end: int) -> list[ChunkSpan]:
        """The chunk spans overlapping ``[start, end)``, from the windows covering it."""
        spans: list[ChunkSpan] = []
        group = self.layout.group_size
        end = min(end, self.size)
        position = start // group * group
        while position < end:
            window = self._window_at(position, end)
            if window.end <= position:  # checked windows always move on; never loop on one
                raise ValueError(f"no window of blob {self.digest.hex()} past {position}")
            known = spans[-1].end if spans else 0
            spans += [
                span
                for span in window.spans
                if span.offset < end and start < span.end and span.offset >= known
            ]
            position = window.end
        return spans

    def chunk_extent(self, start: int, end: int) -> tuple[int, int]:
        """What the chunks overlapping ``[start, end)`` cover: from the windows holding its
        first and its last byte only (a group's window each, not every window between)."""
        end = min(end, self.size)
        if start >= end:
            return start, end
        return self._chunk_at(start).offset, self._chunk_at(end - 1).end

    def _chunk_at(self, offset: int) -> ChunkSpan:
        group = self.layout.group_size
        window = self._window_at(offset // group * group, offset // group * group + group)
        span = window.spans[window.span_index(offset)] if window.spans else None
        if span is None or not span.offset <= offset < span.end:
            raise VerificationError(f"the window's chunks do not cover byte {offset}")
        return span

    def _window_at(self, start: int, end: int) -> Window:
        """A window holding byte ``start`` (the first, the last one fetched for chunk spans),
        else the window the store answers from ``start`` towards ``end``."""
        if self._whole_window is not None:
            return self._whole_window
        for known in (self.layout.first, self._recent):
            if known is not None and known.start <= start < known.end:
                return known
        window = self._window_from(start, end)
        self._recent = window
        return window

    def _window_from(self, start: int, end: int) -> Window:
        """The window the store answers from group boundary ``start`` towards ``end`` (at most
        the window size)."""
        windows = self.layout.windows
        window = windows.at(start, min(end, start + windows.options.window_size))
        if window.whole:
            self._keep_whole(window)
        return window

    def _keep_whole(self, window: Window) -> Outboard:
        with self._lock:
            if self._whole is None:
                self._whole = Outboard.from_window(window)
                self._whole_window = window
            return self._whole


def open_checking(store: BlobStore, digest: bytes, options: ReadOptions) -> BlobLayout | None:
    """Open blob ``digest`` for checking a copy: its first window as large as any window (so a
    blob up to ``options.window_size`` costs this one Stat); None if ``store`` lacks it."""
    return fetch_layout(store, digest, options, first_window=options.window_size)


def for_reading(layout: BlobLayout, options: ReadOptions) -> BlobLayout:
    """The same opened blob, its later windows asked for as a reader asks (``options``: small
    after a seek, growing while the read goes on), sharing the first window."""
    first = layout.first
    whole = first if first.whole else None
    windows = Windows(layout.windows.source, layout.digest, layout.size, options, whole)
    return BlobLayout(layout.digest, first, windows)
