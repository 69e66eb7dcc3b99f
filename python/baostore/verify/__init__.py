"""Verified reading from stores that are not trusted.

* ``layout.py``: a window of a blob (size, proof, chunks) as a source describes it, checked
  against the digest before any data is read;
* ``windows.py``: a blob's windows, asked for by ranged Stat (one fetched ahead), and the layout
  opening a blob proves;
* ``source.py``: where chunk bytes come from (the chunk cache, else the source) and where
  verified chunks go;
* ``reader.py``: ``VerifiedReader``, the seekable file that hands on only verified bytes;
* ``resume.py``: how much of a partial download verifies;
* ``pieces.py``: piece streams (read ahead in a thread, cut at chunk boundaries).
"""

from baostore.errors import VerificationError
from baostore.store.interface import ReadStats
from baostore.verify.layout import (
    DEFAULT_INLINE_LIMIT,
    DEFAULT_PARALLELISM,
    ChunkSpan,
    ReadOptions,
    Window,
    layout_from_stat,
    window_from_stat,
)
from baostore.verify.reader import VerifiedReader, VerifiedReads, open_verified
from baostore.verify.resume import verified_prefix_length
from baostore.verify.windows import BlobLayout, Windows, fetch_layout

__all__ = [
    "DEFAULT_INLINE_LIMIT",
    "DEFAULT_PARALLELISM",
    "BlobLayout",
    "ChunkSpan",
    "ReadOptions",
    "ReadStats",
    "VerificationError",
    "VerifiedReader",
    "VerifiedReads",
    "Window",
    "Windows",
    "fetch_layout",
    "layout_from_stat",
    "open_verified",
    "verified_prefix_length",
    "window_from_stat",
]
