"""A cache tier: a trusted ``near`` store in front of an untrusted ``far`` one.

``has`` and ``stat`` answer from near, else from far (far's answer is passed on as it is; whoever
reads through it verifies it). ``open_read`` on a near miss reads far through a verified reader
whose chunk cache is near, so chunks land in near only once they verified (and chunks near
already holds, from any blob, are not fetched). The bytes handed on are also written, in order,
into a near writer: once the whole blob has been read, near holds its own record of it (near
computes its own chunks and bao; nothing far claimed is recorded) and the next read is a near hit.
A read that skips ahead or stops early leaves no record, only its verified chunks; a later
``stat`` that finds every chunk of the blob in near records it from them, if far's answer has a
bao that proves the size (a client reading chunk by chunk through a caching proxy fills near
that way).

Near is a cache: when it fails to take a write the read goes on, the failure is logged and
counted in ``near_write_failures``. Writes (``put``/``open_write``) go to near only, as in Tvix's
combined store, unless ``write_to="far"`` (a proxy that forwards uploads to the shared store).
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Literal, TypeVar

from typing_extensions import Buffer

from baostore import metrics
from baostore.store.interface import (
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    Readable,
    Stat,
    StatRequest,
    StoreError,
    VerifiedBlobReader,
    check_digest,
    close_pieces,
    list_each_once,
    read_pieces,
    remove_from_each,
)
from baostore.store.seekable import ReadBasedReader
from baostore.verify import ReadOptions, VerificationError, VerifiedReads, layout_from_stat

log = logging.getLogger(__name__)

_NEAR_ERRORS = (StoreError, OSError)
WriteTarget = Literal["near", "far"]
WRITE_TARGETS: tuple[WriteTarget, ...] = ("near", "far")
T = TypeVar("T")


class CacheStore(BlobStore):
    """``near`` (trusted, local) in front of ``far`` (untrusted: every byte from it is verified).

    Counters: ``fills`` (blobs recorded into near after a read through), ``near_write_failures``,
    ``near_read_failures`` (near failed a lookup; far answered instead).
    """

    def __init__(
        self,
        near: BlobStore,
        far: BlobStore,
        *,
        options: ReadOptions | None = None,
        write_to: WriteTarget = "near",
    ) -> None:
        if write_to not in WRITE_TARGETS:
            raise ValueError(f"write_to must be one of {WRITE_TARGETS}, got {write_to!r}")
        self.near = near
        self.far = far
        self.options = options or ReadOptions()
        self.write_to = write_to
        self.fills = 0
        self.near_write_failures = 0
        self.near_read_failures = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CacheStore(near={self.near!r}, far={self.far!r})"

    @property
    def trusted(self) -> bool:
        """As trusted as near: what comes from far is verified before it is handed on."""
        return self.near.trusted

    # -- reading --------------------------------------------------------------------------

    def has(self, digest: bytes) -> bool:
        digest = check_digest(digest)
        return bool(self._from_near("has", digest, self.near.has)) or self.far.has(digest)

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        for tier, store in (("near", self.near), ("far", self.far)):
            try:
                stat = store.stat_request(digest, request)
            except _NEAR_ERRORS as error:
                if tier == "far":
                    raise
                self._near_read_failed("stat", digest, error)
                continue
            if stat is None:
                continue
            _looked_up("stat", hit=tier == "near")
            whole = stat.window is None
            if (
                tier == "far"
                and whole
                and stat.chunks
                and self._record_from_near_chunks(digest, stat)
            ):
                return self.near.stat_request(digest, request) or stat
            return stat
        _looked_up("stat", hit=False)
        return None

    def open_read(self, digest: bytes) -> BlobReader | None:
        digest = check_digest(digest)
        local = self._from_near("open_read", digest, self.near.open_read)
        _looked_up("open_read", hit=local is not None)
        return local if local is not None else self.read_through(digest)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """Near's pieces on a hit; else far's bytes, verified, filling near as they pass."""
        digest = check_digest(digest)
        local = self._from_near("read_raw", digest, self.near.read_raw)
        _looked_up("read_raw", hit=local is not None)
        if local is not None:
            return local
        reader = self.read_through(digest)
        return None if reader is None else read_pieces(reader)

    def _from_near(self, operation: str, digest: bytes, read: Callable[[bytes], T]) -> T | None:
        """``read(digest)`` from near; None when near fails (logged and counted: far answers)."""
        try:
            return read(digest)
        except _NEAR_ERRORS as error:
            self._near_read_failed(operation, digest, error)
            return None

    def read_through(self, digest: bytes) -> FillingReader | None:
        """Read ``digest`` from far, verified, filling near; None if far lacks it. Far says how it
        is read verified (substituters fail over between members); near is its chunk cache."""
        try:
            verified = self.far.open_verified(digest, VerifiedReads(self.options, cache=self.near))
        except VerificationError:
            metrics.far_failed_verification()
            raise
        return None if verified is None else FillingReader(self, check_digest(digest), verified)

    def _record_from_near_chunks(self, digest: bytes, far_stat: Stat) -> bool:
        """Record the blob in near from the chunks near already holds, if it holds them all.

        A client that reads chunk by chunk through this tier (as a verified gRPC client does)
        leaves verified chunks in near but never the blob's record; this adds it from local data
        only, so later Stats are near hits. Far's chunk list only says which chunks to join: near
        hashes what it joins, and a record that does not come out as ``digest`` is not counted. Near
        joins no more than the size far's bao proves.
        """
        try:
            if not all(self.near.has(chunk.digest) for chunk in far_stat.chunks):
                return False
            if not _size_is_proven(digest, far_stat):
                return False
            with self.near.open_write() as writer:
                for chunk in far_stat.chunks:
                    pieces = self.near.read_raw(chunk.digest)
                    if pieces is None or not _copy_exactly(pieces, chunk.size, writer):
                        writer.abort()
                        return False
                recorded = writer.close()
        except _NEAR_ERRORS as error:
            self.near_write_failed(digest, error)
            return False
        if recorded != digest:
            log.warning(
                "cache: far's chunk list for blob %s joins to %s", digest.hex(), recorded.hex()
            )
            return False
        self.filled()
        return True

    # -- writing --------------------------------------------------------------------------

    def open_write(self) -> BlobWriter:
        return self._write_target.open_write()

    def put(self, data: Buffer | Readable) -> bytes:
        return self._write_target.put(data)

    @property
    def _write_target(self) -> BlobStore:
        return self.far if self.write_to == "far" else self.near

    # -- listing and removing -------------------------------------------------------------

    def list_blobs(self) -> Iterator[BlobEntry]:
        """What near holds, then what far holds besides."""
        return list_each_once((self.near, self.far))

    def remove(self, digest: bytes) -> bool:
        """Remove the blob from both tiers (far first: a far store that cannot remove blobs
        refuses before near changes)."""
        return remove_from_each((self.far, self.near), digest)

    def close(self) -> None:
        self.near.close()
        self.far.close()

    # -- reporting ------------------------------------------------------------------------

    def near_write_failed(self, digest: bytes, error: BaseException) -> None:
        with self._lock:
            self.near_write_failures += 1
        log.warning("cache: near store failed to record blob %s: %s", digest.hex(), error)

    def filled(self) -> None:
        with self._lock:
            self.fills += 1

    def _near_read_failed(self, operation: str, digest: bytes, error: BaseException) -> None:
        with self._lock:
            self.near_read_failures += 1
        log.warning(
            "cache: near store failed %s of blob %s (%s); asking far",
            operation,
            digest.hex(),
            error,
        )


def _size_is_proven(digest: bytes, far_stat: Stat) -> bool:
    """Whether far's size checks out against the digest (its bao does) and its chunk sizes add
    up to it: far's chunk list then names no more bytes than the blob has, so a lying list cannot
    make near join more (a 4 MiB answer could name a big blob near holds 100 000 times)."""
    try:
        layout_from_stat(digest, far_stat, ReadOptions(bao_format=far_stat.bao_format))
    except VerificationError:
        metrics.far_failed_verification()
        return False
    return True


def _looked_up(operation: str, *, hit: bool) -> None:
    metrics.CACHE_LOOKUPS.labels(operation, "hit" if hit else "miss").inc()


def _copy_exactly(pieces: Iterator[bytes], size: int, writer: BlobWriter) -> bool:
    """Write ``pieces`` to ``writer`` if they are exactly ``size`` bytes (stop once past it)."""
    written = 0
    try:
        for piece in pieces:
            written += len(piece)
            if written > size:
                return False
            writer.write(piece)
    finally:
        close_pieces(pieces)
    return written == size


class FillingReader(ReadBasedReader):
    """A verified reader over far that writes what it hands on, in order, into near.

    The near writer receives exactly the bytes ``[0, filled)``; a read that starts past
    ``filled`` (after a seek ahead) adds nothing until the reader comes back. When ``filled``
    reaches the size, the writer is closed: near now holds the blob.
    """

    def __init__(self, tier: CacheStore, digest: bytes, verified: VerifiedBlobReader) -> None:
        super().__init__()
        self.digest = digest
        self.size = verified.size
        self.verified = verified
        self._tier = tier
        self._writer: BlobWriter | None = None
        self._filled = 0
        self._fill_over = False
        self._recorded = False
        self._lie_counted = False
        if self.size == 0:
            self._fill(0, b"")

    @property
    def complete(self) -> bool:
        """Whether near received and recorded the whole blob."""
        return self._recorded

    def tell(self) -> int:
        return self.verified.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.verified.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        position = self.verified.tell()
        try:
            data = self.verified.read(size)
        except VerificationError:
            if not self._lie_counted:  # a failed reader raises the same error again
                self._lie_counted = True
                metrics.far_failed_verification()
            raise
        self._fill(position, data)
        return data

    def close(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._fill_over = True
        self.verified.close()
        super().close()

    def _fill(self, position: int, data: bytes) -> None:
        if self._fill_over or position > self._filled:
            return
        fresh = memoryview(data)[self._filled - position :]
        try:
            if self._writer is None:
                self._writer = self._tier.near.open_write()
            if fresh:
                self._writer.write(fresh)
            self._filled += len(fresh)
            if self._filled == self.size:
                self._record()
        except _NEAR_ERRORS as error:
            self._give_up(error)

    def _record(self) -> None:
        assert self._writer is not None
        writer, self._writer = self._writer, None
        self._fill_over = True
        recorded = writer.close()
        if recorded != self.digest:
            # Cannot happen with verified bytes unless near is broken; never worth failing a read.
            raise StoreError(f"near recorded the bytes as {recorded.hex()}")
        self._recorded = True
        self._tier.filled()

    def _give_up(self, error: BaseException) -> None:
        self._fill_over = True
        if self._writer is not None:
            with contextlib.suppress(*_NEAR_ERRORS):
                self._writer.abort()
            self._writer = None
        self._tier.near_write_failed(self.digest, error)
