"""Resuming a download: how much of a partial copy verifies against the blob.

A partial file is re-checked, never trusted: it is fed through the blob's windows in order (each
window's proof fetched from the source as for a read) and only the prefix of complete groups that
verified is kept.
"""

from __future__ import annotations

from typing import BinaryIO

from baostore import bao
from baostore.store.interface import PIECE_SIZE
from baostore.verify.layout import Window
from baostore.verify.windows import BlobLayout


def verified_prefix_length(layout: BlobLayout, local: BinaryIO) -> int:
    """How many leading bytes of ``local`` (a partial download) verify against the blob.

    Used to resume: the partial file is re-checked, never trusted; the answer is the end of the
    last complete group that verified (or the whole blob). Big feeds verify at blake3 speed; where
    one fails, the groups of that feed are checked one by one to keep the good ones. Windows are
    asked for as large as a read asks for them (``ReadOptions.window_size``).
    """
    windows = layout.windows
    verified = 0
    window = layout.first
    while verified < layout.size:
        if not window.can_start_at(verified):
            window = windows.at(verified, min(layout.size, verified + windows.options.window_size))
        local.seek(verified)
        end = _verify_from(window, local, verified, PIECE_SIZE)
        local.seek(end)
        end = _verify_from(window, local, end, window.group_size)
        if end < window.end:
            return end
        verified = end
    return verified


def _verify_from(window: Window, local: BinaryIO, start: int, piece_size: int) -> int:
    """Feed ``local`` (positioned at ``start``) in pieces through ``window``; return where
    verification stopped."""
    if start >= window.end:
        return start
    if not window.can_start_at(start):
        return start  # a window verifies from its start only: nothing more verifies here
    verifier = window.verifier(start)
    try:
        while piece := local.read(min(piece_size, window.end - verifier.received - start)):
            verifier.check(piece)  # in place: the verified bytes are not copied out
        if start + verifier.received == window.end:
            verifier.finalize()
    except bao.BaoError:
        pass
    return start + verifier.verified
