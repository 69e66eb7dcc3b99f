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
    one fails, the verifier still counts the groups of that feed before the damaged one. Windows
    are asked for as large as a read asks for them (``ReadOptions.window_size``).
    """
    windows = layout.windows
    verified = 0
    window = layout.first
    while verified < layout.size:
        if not window.can_start_at(verified):
            window = windows.at(verified, min(layout.size, verified + windows.options.window_size))
        local.seek(verified)
        end = _verify_from(window, local, verified)
        if end < window.end:
            return end
        verified = end
    return verified


def _verify_from(window: Window, local: BinaryIO, start: int) -> int:
    """Feed ``local`` (positioned at ``start``) in pieces through ``window``; return the end of
    the groups that verified."""
    if start >= window.end:
        return start
    if not window.can_start_at(start):
        return start  # a window verifies from its start only: nothing more verifies here
    verifier = window.verifier(start)
    try:
        while piece := local.read(min(PIECE_SIZE, window.end - verifier.received - start)):
            verifier.check(piece)  # in place: the verified bytes are not copied out
        if start + verifier.received == window.end:
            verifier.finalize()
    except bao.BaoError:
        pass
    return start + verifier.verified
