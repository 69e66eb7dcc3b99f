"""Verified reading from stores that are not trusted.

* ``layout.py``: a window of a blob (size, proof, chunks) as a source describes it, checked
  against the digest before any data is read;
* ``windows.py``: a blob's windows, asked for by ranged Stat (one fetched ahead), and the layout
  opening a blob proves;
* ``source.py``: where chunk bytes come from (the chunk cache, else the source) and where
  verified chunks go;
* ``reader.py``: ``VerifiedReader``, the seekable file that hands on only verified bytes;
* ``resume.py``: how much of a partial download verifies;
* ``pieces.py``: piece streams (read ahead in a thread, cut at chunk boundaries);
* ``outboard.py``: outboard files (pre_order, leaves, the bao CLI's) as verifiers of any window;
* ``local.py``: checking a local file of any shape group by group (``check_file``);
* ``ranges.py``: byte ranges as a value.

Checking a local file against a digest and an outboard, no server needed::

    from baostore.verify import Outboard, check_file
    outboard = Outboard.load("big.iso.bao", digest, "bao")   # or "pre_order"/"leaves", size=...
    report = check_file("big.iso", outboard)
    report.complete, report.verified, report.damaged, report.missing
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
from baostore.verify.local import BlobBao, FileCheck, NotAFileError, check_file
from baostore.verify.outboard import OUTBOARD_FORMATS, Outboard, OutboardError, OutboardFormat
from baostore.verify.ranges import Ranges
from baostore.verify.reader import VerifiedReader, VerifiedReads, open_verified
from baostore.verify.resume import verified_prefix_length
from baostore.verify.windows import BlobLayout, Windows, fetch_layout

__all__ = [
    "DEFAULT_INLINE_LIMIT",
    "DEFAULT_PARALLELISM",
    "OUTBOARD_FORMATS",
    "BlobBao",
    "BlobLayout",
    "ChunkSpan",
    "FileCheck",
    "NotAFileError",
    "Outboard",
    "OutboardError",
    "OutboardFormat",
    "Ranges",
    "ReadOptions",
    "ReadStats",
    "VerificationError",
    "VerifiedReader",
    "VerifiedReads",
    "Window",
    "Windows",
    "check_file",
    "fetch_layout",
    "layout_from_stat",
    "open_verified",
    "verified_prefix_length",
    "window_from_stat",
]
