"""Resuming a download: how much of a partial copy verifies against the blob.

A partial file is re-checked, never trusted: it is fed through a Verifier window by window and
only the prefix of complete groups that verified is kept.
"""

from __future__ import annotations

from typing import BinaryIO

from baostore import bao
from baostore.store.interface import PIECE_SIZE
from baostore.verify.layout import BlobLayout


def verified_prefix_length(layout: BlobLayout, local: BinaryIO) -> int:
    """How many leading bytes of ``local`` (a partial download) verify against the blob.

    Used to resume: the partial file is re-checked, never trusted; the answer is the end of the
    last complete group that verified (or the whole blob). Big feeds verify at blake3 speed; where
    one fails, the groups of that feed are checked one by one to keep the good ones.
    """
    local.seek(0)
    verified = _verify_from(layout, local, 0, PIECE_SIZE)
    local.seek(verified)
    return _verify_from(layout, local, verified, layout.group_size)


def _verify_from(layout: BlobLayout, local: BinaryIO, start: int, piece_size: int) -> int:
    """Feed ``local`` (positioned at ``start``) in pieces; return where verification stopped."""
    if start >= layout.size:
        return start
    verifier = layout.verifier(start=start)
    verified = start
    try:
        while piece := local.read(min(piece_size, layout.size - verifier.received - start)):
            verified += len(verifier.update(piece))
        if start + verifier.received == layout.size:
            verified += len(verifier.finalize())
    except bao.BaoError:
        pass
    return verified
