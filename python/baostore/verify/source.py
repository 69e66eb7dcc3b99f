"""Where a verified read gets chunk bytes, and where verified chunks go.

A chunk comes from the chunk cache (a trusted local store) when it holds it, else from the
untrusted source; a chunk whose every byte verified goes back into the cache. Nothing here checks
bytes against the digest (the reader's Verifier does): this module decides where bytes come from,
counts what that cost (``ReadStats``) and fills the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from baostore import bao
from baostore.errors import DataLossError
from baostore.store.interface import BlobStore, ReadStats, StoreError, close_pieces
from baostore.verify.layout import ChunkSpan
from baostore.verify.pieces import Piece, Readahead, SlicedPieces

# Pieces (gRPC messages of up to 1 MiB) a streamed Read may run ahead of verification.
STREAM_READAHEAD = 8
# Verified chunks waiting for the cache's writers (bounds the memory they hold). Several writers,
# because a durable chunk write mostly waits for the disk (fsync), not for a core.
CACHE_FILL_DEPTH = 8
CACHE_FILL_THREADS = 4


class ChunkSource:
    """The chunks of one blob (``digest``, ``size`` bytes) from ``cache`` or ``source``, fetched
    by up to ``parallelism`` threads; verified chunks handed back are written into ``cache``.
    ``stats`` (shared with whoever fetches the blob's windows) counts what it cost."""

    def __init__(
        self,
        source: BlobStore,
        digest: bytes,
        size: int,
        cache: BlobStore | None,
        parallelism: int,
        stats: ReadStats | None = None,
    ) -> None:
        self.source = source
        self.digest = digest
        self.size = size
        self.cache = cache
        self.parallelism = max(1, parallelism)
        self.stats = ReadStats() if stats is None else stats
        self._stats_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._cache_writer: ThreadPoolExecutor | None = None
        self._cache_writes: list[Future[None]] = []
        # Chunks whose cached copy turned out damaged: fetched from the source from then on.
        self._damaged_in_cache: set[bytes] = set()

    # -- fetching -------------------------------------------------------------------------

    def fetch_pool(self) -> ThreadPoolExecutor:
        """The threads that fetch chunks ahead (started on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.parallelism, thread_name_prefix="baostore-fetch"
            )
        return self._executor

    def open_blob_stream(self, spans: tuple[ChunkSpan, ...]) -> SlicedPieces | None:
        """The blob stream: one Read for all of the blob, pulled ahead in a thread, when the cache
        holds none of the chunks known so far (``spans``, from the blob's start: one stream is
        much cheaper than a Read per chunk). None: read chunk by chunk."""
        if not spans or (len(spans) < 2 and spans[-1].end == self.size):
            return None
        if self.cache is not None:
            cache = self.cache
            if any(self.fetch_pool().map(lambda span: cache.has(span.digest), spans)):
                return None
        pieces = self.source.read_raw(self.digest)
        if pieces is None:
            raise DataLossError(f"the source described blob {self.digest.hex()} but lacks it")
        return SlicedPieces(Readahead(self._counted(pieces), STREAM_READAHEAD))

    def count_span(self, span: ChunkSpan) -> None:
        """Count ``span`` as fetched from the source."""
        with self._stats_lock:
            self.stats.chunks_fetched += 1
            self.stats.fetched_digests.append(span.digest)

    def open_span(self, span: ChunkSpan) -> tuple[Iterator[Piece], bool]:
        """The pieces of a span and whether they come from the cache (else from the source)."""
        if self.cache is not None and span.digest not in self._damaged_in_cache:
            cached = self.cache.read_raw(span.digest)
            if cached is not None:
                with self._stats_lock:
                    self.stats.chunks_from_cache += 1
                return cached, True
        pieces = self.source.read_raw(span.digest)
        if pieces is None:
            raise DataLossError(
                f"the source lists chunk {span.digest.hex()} at offset {span.offset} "
                "but does not have it"
            )
        self.count_span(span)
        return self._counted(pieces), False

    def _counted(self, pieces: Iterator[Piece]) -> Iterator[Piece]:
        try:
            for piece in pieces:
                with self._stats_lock:
                    self.stats.bytes_fetched += len(piece)
                yield piece
        finally:
            close_pieces(pieces)

    # -- the cache ------------------------------------------------------------------------

    def cached_copy_is_damaged(self, span: ChunkSpan) -> bool:
        """Whether the cache's copy of ``span.digest`` is unusable: bytes that do not hash to it
        (the cache keys chunks by their locally computed digest, so only damage causes that), or
        a cache that fails to read it. A true copy is not damaged, whatever the source claims."""
        cache = self.cache
        if cache is None or span.digest in self._damaged_in_cache:
            return False
        hasher = bao.Hasher()
        try:
            pieces = cache.read_raw(span.digest)
            if pieces is None:
                return False
            try:
                for piece in pieces:
                    hasher.update(piece)
            finally:
                close_pieces(pieces)
        except (StoreError, OSError):
            return True
        return hasher.digest() != span.digest

    def avoid_cached(self, digests: set[bytes]) -> None:
        """Fetch these chunks from the source from now on: the cache's copies are damaged."""
        self._damaged_in_cache |= digests

    def keep_verified_chunk(self, span: ChunkSpan, data: bytes) -> None:
        """Hand a chunk whose every byte verified to the cache's writers (so writing it overlaps
        with fetching and verifying the next ones)."""
        if self.cache is None:
            return
        if self._cache_writer is None:
            self._cache_writer = ThreadPoolExecutor(
                CACHE_FILL_THREADS, thread_name_prefix="baostore-cache-fill"
            )
        writes = [write for write in self._cache_writes if not write.done()]
        if len(writes) >= CACHE_FILL_DEPTH:
            wait(writes, return_when=FIRST_COMPLETED)
        writes.append(self._cache_writer.submit(self._write_to_cache, self.cache, span, data))
        self._cache_writes = writes

    def flush_cache(self) -> None:
        """Wait until every verified chunk handed to the cache has been written."""
        writes, self._cache_writes = self._cache_writes, []
        wait(writes)

    def _write_to_cache(self, cache: BlobStore, span: ChunkSpan, data: bytes) -> None:
        """Store a verified chunk under its own digest; one that does not hash to the digest the
        source listed (true bytes, cut where the chunk list lied) is left out."""
        try:
            if cache.put_chunk(data, expected_digest=span.digest) != span.digest:
                return
        except (StoreError, OSError):
            return  # a cache that cannot take writes must not fail the read
        with self._stats_lock:
            self.stats.chunks_cached += 1

    # -- ending ---------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel the fetches, wait for the cache writes."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self.flush_cache()
        if self._cache_writer is not None:
            # Its writes are done (flushed): the idle threads end on their own, no join needed.
            self._cache_writer.shutdown(wait=False)
            self._cache_writer = None

    def abandon(self) -> None:
        """``close`` without waiting for anything (a finalizer may run inside threading's own
        locks): the fetches are cancelled, writes already handed to the writers still happen."""
        for pool in (self._executor, self._cache_writer):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=pool is self._executor)
