"""BLAKE3 bao outboards at any chunk-group size, and a streaming verifier.

A blob is hashed by BLAKE3 in 1 KiB chunks arranged in a binary tree; a *chunk group* of
``2**shift`` chunks (``group_size(shift)`` bytes) is a subtree of it. The *bao* (outboard) of a
blob holds the tree's chaining values down to the groups, so a receiver that knows only the root
(the plain ``blake3(data)`` digest) can check each group of a stream before using it.

Formats:

* ``"pre_order"``: bao-tree's ``PreOrderOutboard`` bytes, no size prefix, ``(groups - 1) * 64``
  bytes (at shift 0 the ``bao`` crate's outboard without its 8-byte length; at shift 4
  iroh-blobs' ``.obao4``).
* ``"leaves"``: the chaining values of the groups, 32 bytes each, in order.

A blob of a single group (the empty blob included) has an empty bao in both formats.

Every ``data``-like argument takes any object with the buffer protocol (bytes, bytearray,
memoryview, mmap, array, numpy arrays) as long as it is C-contiguous; it is read in place, and the
GIL is released while inputs of 2 KiB or more are processed. The classes are safe to share
between threads (each has a lock inside).

Errors: data, a bao or a proof that does not match raises ``MismatchError``; a bao or proof whose
length cannot be right raises ``MalformedBaoError``; both are ``BaoError``, a ``ValueError``, and
say what and where (group, blob offset, node). A bad argument raises ``ValueError`` (``TypeError``
for the wrong type) naming the argument.

Files and the ``bao`` CLI: ``hash_file()`` hashes a file as ``b3sum`` does (memory-mapped,
multithreaded); ``encode_bao_cli_outboard()`` / ``decode_bao_cli_outboard()`` convert between a
shift-0 ``pre_order`` bao and the ``bao`` CLI's outboard file (8-byte little-endian size first).

This module is a thin re-export of the native ``baostore._bao``: its classes and functions are the
public types, documented in their docstrings and typed in ``_bao.pyi``.

Example::

    root, ob = outboard(data, shift=4)
    verifier = Verifier(root, len(data), ob, shift=4)
    checked = verifier.update(data) + verifier.finalize()

Windows and proofs (no size ceiling). A *window* is a byte range ``[start, end)`` of a blob,
answered rounded out to groups (``window()``: start down to a group boundary, end up to one or to
the size). Its *proof* is what a verifier needs to check the window's groups against the root:
O(log n) nodes plus the window's own, at any blob size. In ``"pre_order"`` it is the pairs
(``left CV || right CV``) of every parent that overlaps the window, in pre-order: exactly the
parents bao-tree's range encoding emits for the window (what iroh-blobs sends for a range
request), without the data. In ``"leaves"`` it is the chaining values of the window's groups and
of the subtrees that close the tree left and right of it, left to right. The whole-blob window's
proof is the whole bao. docs/protocol.md ("Window proofs") defines both byte by byte.

* ``proof_size()`` tells a proof's length, ``window_proof()`` cuts it from a whole bao in memory,
  ``Verifier.from_proof()`` verifies a window with it.
* ``"post_order"`` is a *storage* layout (bao-tree's ``PostOrderOutboard``, the same pairs in
  post-order), never a wire format: ``PostOrderBuilder`` writes it while a blob streams in, in
  memory independent of the blob's size, and ``ProofPlan`` answers any window's proof at any
  shift and format from a stored post-order bao by reading O(log n + window) byte ranges of it
  (plus, for a shift finer than the stored one, the window's stored groups of data to rehash).
  ``pre_order_to_post_order()`` migrates baos kept in pre-order.

Example (a server holding a post-order bao at shift 4 in an object store)::

    plan = ProofPlan(size, stored_shift=4, shift=0, format="pre_order", start=a, end=b)
    pieces = [read_object(key, lo, hi) for lo, hi in plan.outboard_ranges]
    data = read_blob(*plan.data_range) if plan.data_range else None
    proof = plan.build(digest, pieces, data)            # checked against digest
    # client:
    v = Verifier.from_proof(digest, size, proof, shift=0, start=plan.start, end=plan.end)
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from baostore._bao import (
    MAX_SHIFT,
    MAX_THREADS,
    BaoError,
    Hasher,
    MalformedBaoError,
    MismatchError,
    OutboardBuilder,
    PostOrderBuilder,
    ProofPlan,
    Verifier,
    cdc_cut_lengths,
    coarsen,
    convert_format,
    decode_bao_cli_outboard,
    encode_bao_cli_outboard,
    group_size,
    hash,
    hash_file,
    outboard,
    outboard_size,
    post_order_to_pre_order,
    pre_order_to_post_order,
    proof_size,
    window,
    window_proof,
)

__all__ = [
    "FORMATS",
    "MAX_SHIFT",
    "MAX_THREADS",
    "BaoError",
    "BaoFormat",
    "Hasher",
    "MalformedBaoError",
    "MismatchError",
    "OutboardBuilder",
    "PostOrderBuilder",
    "ProofPlan",
    "Verifier",
    "cdc_cut_lengths",
    "coarsen",
    "convert_format",
    "decode_bao_cli_outboard",
    "encode_bao_cli_outboard",
    "group_size",
    "hash",
    "hash_file",
    "outboard",
    "outboard_size",
    "post_order_to_pre_order",
    "pre_order_to_post_order",
    "proof_size",
    "window",
    "window_proof",
]

BaoFormat = Literal["pre_order", "leaves"]
"""The wire formats of a bao or proof. (``"post_order"`` is a storage layout, never sent.)"""
FORMATS: Final[tuple[BaoFormat, ...]] = get_args(BaoFormat)
