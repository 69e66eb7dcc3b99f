"""A small in-memory store of recently verified chunks, bounded in bytes (least recently used out).

A failover read hands it to its verified readers as their chunk cache: a chunk that verified
before a member failed is still here when the next member takes over, so it is not fetched
again. Only the chunks around the read position matter for that, so a few tens of MiB suffice
whatever the blob size.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterator

from typing_extensions import Buffer

from baostore import bao
from baostore.sizes import MiB
from baostore.store.interface import (
    BlobReader,
    BlobStore,
    BlobWriter,
    Stat,
    StatRequest,
    check_digest,
)

DEFAULT_CAPACITY = 64 * MiB


class RecentChunks(BlobStore):
    """Blobs (chunks) kept in memory by their locally computed digest, at most ``capacity`` bytes.

    A blob larger than the capacity is not kept. ``stat`` answers the size only (no chunk list,
    no bao): this is a cache for verified readers, not a store to serve from.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecentChunks(capacity={self.capacity})"

    @property
    def trusted(self) -> bool:
        """It keeps what was put, under the digest it computed itself."""
        return True

    @property
    def held_bytes(self) -> int:
        return self._held

    def has(self, digest: bytes) -> bool:
        with self._lock:
            return check_digest(digest) in self._blobs

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        data = self._get(digest)
        if data is None:
            return None
        inline = data if request.inline_limit and len(data) <= request.inline_limit else None
        return Stat(size=len(data), bao_format=request.bao_format, inline=inline)

    def open_read(self, digest: bytes) -> BlobReader | None:
        data = self._get(digest)
        return None if data is None else io.BytesIO(data)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        data = self._get(digest)
        return None if data is None else iter((data,))

    def open_write(self) -> BlobWriter:
        return _RecentWriter(self)

    def _get(self, digest: bytes) -> bytes | None:
        digest = check_digest(digest)
        with self._lock:
            data = self._blobs.get(digest)
            if data is not None:
                self._blobs.move_to_end(digest)
            return data

    def _keep(self, digest: bytes, data: bytes) -> None:
        if len(data) > self.capacity:
            return
        with self._lock:
            if digest in self._blobs:
                self._blobs.move_to_end(digest)
                return
            self._blobs[digest] = data
            self._held += len(data)
            while self._held > self.capacity:
                _, evicted = self._blobs.popitem(last=False)
                self._held -= len(evicted)


class _RecentWriter(BlobWriter):
    def __init__(self, store: RecentChunks) -> None:
        self._store = store
        self._parts = bytearray()
        self._digest: bytes | None = None
        self._aborted = False

    def write(self, data: Buffer) -> int:
        if self._digest is not None or self._aborted:
            raise ValueError("blob writer is closed")
        with memoryview(data) as view:
            self._parts += view
            return view.nbytes

    def close(self) -> bytes:
        if self._digest is None:
            if self._aborted:
                raise ValueError("blob writer was aborted")
            data = bytes(self._parts)
            self._parts = bytearray()
            self._digest = bao.hash(data)
            self._store._keep(self._digest, data)
        return self._digest

    def abort(self) -> None:
        if self._digest is None:
            self._aborted = True
            self._parts = bytearray()
