"""The chunked blob store over object storage (memory, local files, S3).

Blobs are cut by FastCDC 2020 into content-defined chunks, each stored once under its own digest
(``chunks/<hex[:2]>/<hex>``); a blob that is a single chunk is that chunk's object. A per-blob
record (``blobs/<hex[:2]>/<hex>``, see record.py) names the blob's parts (parts.py): its bao at the
store's shift in the post_order layout, its chunk list of fixed-size entries and a chunk index,
each inline in the record when small, else an object of its own written while the Put streams.
The record is written last, after every chunk and part, so no record ever points at a missing
object; every object is written atomically by the backend. A Put runs in memory independent of
the blob's size, and a Stat reads only what its answer needs (answers.py), by byte range.

Records of version 1 (the whole pre_order bao and chunk list inside) are still read as they are.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate

from typing_extensions import Buffer

from baostore import bao
from baostore.errors import DataLossError, StoreError
from baostore.sizes import KiB, MiB
from baostore.store.answers import REHASH_LIMIT as REHASH_LIMIT
from baostore.store.answers import StatAnswers
from baostore.store.intents import Intents, remove_expired_intents
from baostore.store.interface import (
    DEFAULT_BAO_SHIFT,
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    ChunkMeta,
    Piece,
    Stat,
    StatRequest,
    as_bytes,
    check_digest,
    check_shift,
)
from baostore.store.interface import (
    MAX_CHUNK_SIZE_LIMIT as MAX_CHUNK_SIZE_LIMIT,
)
from baostore.store.interface import (
    ChunkSizes as ChunkSizes,
)
from baostore.store.objects import ObjectBackend
from baostore.store.parts import (
    ENTRY_BATCH,
    BlobParts,
    ChunkPlace,
    PartRef,
    PartsWriter,
)
from baostore.store.parts import (
    PARTS_PREFIX as PARTS_PREFIX,
)
from baostore.store.record import (
    BlobRecord,
    PartsRecord,
    RecordError,
    decode_any_record,
    encode_parts_record,
)
from baostore.store.seekable import seek_target

log = logging.getLogger(__name__)

READ_BUFFER_SIZE = 64 * KiB
# A store removes the intents of Puts that ended long ago at most this often (gc does too).
REAP_INTERVAL = 300.0
# Uncut data is cut once this much beyond a maximum chunk has gathered: the cutter rescans the
# unfinished last chunk each time, so the window must be large next to a chunk (<= 25 % rescans
# at max 2 MiB) yet small next to memory.
CUT_WINDOW = 8 * MiB
# Chunks are hashed and uploaded by one small process-wide pool while writers cut the next ones
# (the native calls release the GIL; object stores answer faster to parallel requests). Each
# writer keeps at most MAX_CHUNKS_IN_FLIGHT chunks in flight, which bounds its extra memory to that
# many maximum chunks.
UPLOAD_THREADS = 8
MAX_CHUNKS_IN_FLIGHT = 4
_upload_pool: ThreadPoolExecutor | None = None
_upload_pool_lock = threading.Lock()


def upload_pool() -> ThreadPoolExecutor:
    """The pool every ChunkedStore's writers upload chunks with (threads start on demand)."""
    global _upload_pool
    with _upload_pool_lock:
        if _upload_pool is None:
            _upload_pool = ThreadPoolExecutor(UPLOAD_THREADS, "baostore-upload")
        return _upload_pool


CHUNK_PREFIX = "chunks"
RECORD_PREFIX = "blobs"


# Measured with benches/bench_chunking.py (64 MiB random base + 3 versions, each with 4
# insertions and 4 deletions; min = avg/4, max = min(4 avg, 4 MiB)). New data stored per version
# (8 edits): avg 256 KiB 3.2-4.4 MiB, 512 KiB 5.6-6.5 MiB, 1 MiB 10-12 MiB, 2 MiB 25-31 MiB,
# 4 MiB 40-48 MiB (max = avg there, so it degrades towards fixed-size chunks). Put time shows no
# trend with the average (3-8x plain hashing, noisy on a shared machine: CDC, the blob's bao,
# chunk hashes and copies) and the record is dominated by the bao, not the chunk list.
# 512 KiB keeps ~90 % of the 256 KiB dedup ratio with half the objects and requests (2048 per
# GiB); max 2 MiB keeps any chunk well inside one 4 MiB gRPC message and bounds a small range
# read to two chunks = 4 MiB.
DEFAULT_CHUNK_SIZES = ChunkSizes(min=128 * KiB, avg=512 * KiB, max=2 * MiB)


@dataclass(frozen=True)
class ObjectCounts:
    """How many objects of each kind the backend holds (listing, so O(objects))."""

    records: int
    chunks: int


def chunk_key(digest: bytes) -> str:
    hex_digest = digest.hex()
    return f"{CHUNK_PREFIX}/{hex_digest[:2]}/{hex_digest}"


def record_key(digest: bytes) -> str:
    hex_digest = digest.hex()
    return f"{RECORD_PREFIX}/{hex_digest[:2]}/{hex_digest}"


class ChunkedStore(BlobStore):
    """A content-addressed store of FastCDC chunks and per-blob records over an ObjectBackend.

    ``bao_shift`` is the shift of the stored bao (Stat at a coarser shift is derived from it, at a
    finer one by rehashing blobs up to ``rehash_limit`` bytes). Safe to use from many threads.
    """

    def __init__(
        self,
        backend: ObjectBackend,
        *,
        bao_shift: int = DEFAULT_BAO_SHIFT,
        chunk_sizes: ChunkSizes = DEFAULT_CHUNK_SIZES,
        rehash_limit: int = REHASH_LIMIT,
    ) -> None:
        check_shift(bao_shift)
        if rehash_limit < 0:
            raise ValueError(f"rehash_limit must be >= 0, got {rehash_limit}")
        self.backend = backend
        self.bao_shift = bao_shift
        self.chunk_sizes = chunk_sizes
        self.rehash_limit = rehash_limit
        self._intents_reaped_at: float | None = None
        self._reap_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChunkedStore({self.backend.description}, bao_shift={self.bao_shift})"

    @property
    def trusted(self) -> bool:
        """Its data is its own (``baostore fsck`` checks it against the records and digests)."""
        return True

    # -- reading -------------------------------------------------------------------------------

    def has(self, digest: bytes) -> bool:
        """One backend operation for a chunk (what a chunk cache is asked about) and for a blob
        of one chunk; a blob of several chunks takes a second one, for its record."""
        digest = check_digest(digest)
        return (
            self.backend.size(chunk_key(digest)) is not None
            or self.backend.size(record_key(digest)) is not None
        )

    def chunks(self, digest: bytes) -> tuple[ChunkMeta, ...] | None:
        parts = self.blob_parts(check_digest(digest))
        if parts is None:
            return None
        if parts.chunk_count == 0:
            return ()
        return tuple(place.meta for place in parts.all_chunks())

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        parts = self.blob_parts(digest, with_bao=request.send_bao)
        if parts is None:
            return None
        shift = self.bao_shift if request.bao_shift is None else request.bao_shift
        answers = StatAnswers(parts, self._place_for_rehash, self.chunk_sizes, self.rehash_limit)
        return answers.answer(request, shift, lambda: self._read_all(parts))

    def expensive(self, request: StatRequest) -> bool:
        """Whether the answer may rehash data: a bao finer than the stored one."""
        return (
            request.send_bao
            and request.bao_shift is not None
            and request.bao_shift < self.bao_shift
        )

    def open_read(self, digest: bytes) -> BlobReader | None:
        parts = self.blob_parts(check_digest(digest))
        if parts is None:
            return None
        return io.BufferedReader(ChunkedReader(self, parts), buffer_size=READ_BUFFER_SIZE)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """The blob's (or chunk's) bytes, one chunk object per piece, fetched lazily."""
        views = self.read_views(digest)
        return None if views is None else as_bytes(views)

    def read_views(self, digest: bytes) -> Iterator[Piece] | None:
        """``read_raw``'s pieces as views of the objects' buffers (no copy). A chunk (or a blob
        that is one chunk) costs one backend operation: its object is asked for first, the
        record only when there is none."""
        digest = check_digest(digest)
        data = self.backend.get_view(chunk_key(digest))
        if data is not None:
            self._check_chunk(digest, data, None)
            return iter((data,))
        record = self.read_record(digest)
        if record is None:
            return None
        return self._iter_views(self._parts_of(digest, record))

    def object_counts(self) -> ObjectCounts:
        """Count records and chunk objects in the backend (for dedup checks and fsck)."""
        return ObjectCounts(
            records=sum(1 for _ in self.backend.keys(RECORD_PREFIX)),
            chunks=sum(1 for _ in self.backend.keys(CHUNK_PREFIX)),
        )

    def record_digests(self) -> Iterator[bytes]:
        """Digests of every blob with a record."""
        return _digests_under(self.backend, RECORD_PREFIX)

    def chunk_digests(self) -> Iterator[bytes]:
        """Digests of every chunk object."""
        return _digests_under(self.backend, CHUNK_PREFIX)

    def part_keys(self) -> Iterator[str]:
        """The keys of every part object (the bao, chunk list and index of big blobs)."""
        return self.backend.keys(PARTS_PREFIX)

    def list_blobs(self) -> Iterator[BlobEntry]:
        """Every blob with a record (one read per blob); DataLossError for a damaged record."""
        for digest in self.record_digests():
            record = self.read_record(digest)
            if record is not None:  # None: removed since it was listed
                count = _chunk_count(record) or (1 if record.size else 0)
                yield BlobEntry(digest, record.size, count)

    def remove(self, digest: bytes) -> bool:
        """Remove the blob's record, then its part objects (its own: no other record names
        them). Its chunks stay until garbage collection finds no record that uses them (they
        may be shared); a blob stored as one chunk stays readable as that chunk until then, like
        any chunk this store holds."""
        digest = check_digest(digest)
        key = record_key(digest)
        if self.backend.size(key) is None:
            return False
        try:
            parts = self.blob_parts(digest)
        except DataLossError:
            parts = None  # a damaged record: its parts are found by gc/fsck as unreferenced
        self.backend.delete(key)
        for part in parts.object_keys if parts is not None else ():
            self.backend.delete(part)
        return True

    def read_chunk(self, digest: bytes, expected_size: int | None = None) -> bytes | None:
        """The bytes of one chunk object, or None; DataLossError if they are damaged: not
        ``expected_size`` long, or hashing to another digest. Every read of objects at rest is
        checked (BLAKE3 costs little next to a disk or a wire), so damage on disk is never served
        as data, also not to clients that verify nothing."""
        digest = check_digest(digest)
        data = self.backend.get(chunk_key(digest))
        if data is not None:
            self._check_chunk(digest, data, expected_size)
        return data

    def read_record(self, digest: bytes) -> BlobRecord | PartsRecord | None:
        """The blob's record (either version), or None; DataLossError (caused by a RecordError)
        if it is damaged."""
        digest = check_digest(digest)
        raw = self.backend.get(record_key(digest))
        if raw is None:
            return None
        try:
            return decode_any_record(raw)
        except RecordError as error:
            raise DataLossError(f"corrupt record for blob {digest.hex()}: {error}") from error

    def blob_parts(self, digest: bytes, *, with_bao: bool = False) -> BlobParts | None:
        """The blob's parts, read by range (a bare chunk: its bao is computed, if ``with_bao``),
        or None if the store lacks it."""
        record = self.read_record(digest)
        if record is not None:
            return self._parts_of(digest, record)
        size = self.backend.size(chunk_key(digest))
        if size is None:
            return None
        post_order = b""
        if with_bao and bao.outboard_size(size, self.bao_shift):
            # A chunk stored on its own (a cache's) has no record: its bao is computed here,
            # from at most one maximum chunk, and its root checked (no hash of it before).
            data = self.backend.get_view(chunk_key(digest))
            if data is None or len(data) != size:
                raise DataLossError(f"chunk {digest.hex()} changed while it was read")
            builder = bao.PostOrderBuilder(self.bao_shift)
            pairs = builder.update(data)
            root, rest = builder.finalize()
            if root != digest:
                raise DataLossError(f"chunk {digest.hex()} is corrupt: it hashes differently")
            post_order = pairs + rest
        parts = (PartRef(len(post_order), post_order), PartRef(0, b""), PartRef(0, b""))
        return BlobParts(self.backend, digest, size, self.bao_shift, 0, 1, b"", parts)

    def _parts_of(self, digest: bytes, record: BlobRecord | PartsRecord) -> BlobParts:
        """The parts a record names (a version-1 record's rebuilt in memory)."""
        if isinstance(record, PartsRecord):
            return BlobParts(
                self.backend,
                digest,
                record.size,
                record.bao_shift,
                record.chunk_count,
                record.index_block,
                record.upload_id,
                record.parts,
            )
        return BlobParts.in_memory(
            self.backend, digest, record.size, record.bao_shift, record.chunks, record.bao
        )

    def _iter_views(self, parts: BlobParts) -> Iterator[Piece]:
        for place in parts.all_chunks():
            yield self._place_view(place)

    def _place_view(self, place: ChunkPlace) -> memoryview:
        """The bytes of the chunk at ``place`` (a view, no copy); DataLossError if it is missing
        or damaged (see ``read_chunk``)."""
        data = self.backend.get_view(chunk_key(place.digest))
        if data is None:
            raise _missing(place)
        self._check_chunk(place.digest, data, place.size)
        return data

    def _place_for_rehash(self, place: ChunkPlace, offset: int, target: memoryview) -> None:
        """Fill ``target`` with the bytes of the chunk at ``place`` from ``offset``, for a rehash,
        which checks them against the blob's digest (see ``answers.ReadChunk``): their hash is
        not checked here. DataLossError if the chunk is missing or too short."""
        count = self.backend.read_into(chunk_key(place.digest), offset, target)
        if count is None:
            raise _missing(place)
        if count != len(target):
            raise DataLossError(
                f"chunk {place.digest.hex()} ends at byte {offset + count}, "
                f"the record says it holds {place.size}"
            )

    def _check_chunk(self, digest: bytes, data: Buffer, expected_size: int | None) -> None:
        """DataLossError unless the bytes of chunk ``digest`` are ``expected_size`` long (when
        known) and, if the backend's objects lie at rest (files, S3), hash to it."""
        size = len(memoryview(data))
        if expected_size is not None and size != expected_size:
            raise DataLossError(
                f"chunk {digest.hex()} holds {size} bytes, the record says {expected_size}"
            )
        if self.backend.at_rest and bao.hash(data) != digest:
            raise DataLossError(f"chunk {digest.hex()} is damaged: its bytes hash differently")

    def _read_all(self, parts: BlobParts) -> bytes:
        return b"".join(self._place_view(place) for place in parts.all_chunks())

    # -- writing -------------------------------------------------------------------------------

    def open_write(self) -> BlobWriter:
        return ChunkedWriter(self)

    def put_chunk(self, data: Buffer, expected_digest: bytes | None = None) -> bytes:
        """Store ``data`` as one chunk object, without a record: readable by its digest (has,
        open_read, read_raw, stat) like a single-chunk blob. fsck lists such chunks as
        unreferenced, which is what a chunk cache holds. Hashed once, also when checked
        against ``expected_digest``."""
        return self._store_chunk(bytes(data), expected_digest).digest

    def _store_chunk(self, data: bytes, expected_digest: bytes | None = None) -> ChunkMeta:
        """Hash a chunk and store it under its digest unless it is already there (dedup) or it
        is not the chunk the caller expected."""
        digest = bao.hash(data)
        if expected_digest is None or digest == expected_digest:
            self._store_hashed_chunk(data, digest)
        return ChunkMeta(digest, len(data))

    def _store_hashed_chunk(self, data: bytes, digest: bytes) -> float | None:
        """Store a chunk under its (known) digest unless it is already there (dedup); when this
        call wrote it, the time it did (an aborting writer removes what it wrote)."""
        key = chunk_key(digest)
        if self.backend.size(key) is not None:
            return None
        self.backend.put(key, data)
        return time.time()

    def _store_record(self, digest: bytes, record: PartsRecord) -> bool:
        """Write the record unless the blob has one already; whether it was written."""
        key = record_key(digest)
        if self.backend.size(key) is not None:
            return False
        self.backend.put(key, encode_parts_record(record))
        return True

    def _remove_expired_intents(self) -> None:
        """Remove the intents of Puts that ended long ago, at most once per REAP_INTERVAL (so
        that a store nobody runs gc on keeps few); best effort."""
        now = time.monotonic()
        with self._reap_lock:
            last = self._intents_reaped_at
            if last is not None and now - last < REAP_INTERVAL:
                return
            self._intents_reaped_at = now
        try:
            remove_expired_intents(self.backend, time.time())
        except StoreError as error:
            log.warning("%r: expired intents not removed: %s", self, error)

    # -- what garbage collection may remove ------------------------------------------------------

    @property
    def blob_object_prefixes(self) -> tuple[str, ...]:
        """Where the objects that exist for records live (chunks, and the parts of big blobs):
        garbage collection removes those no record names (``record_object_keys``), no Put
        relies on and older than its grace period. Records themselves are never garbage."""
        return (CHUNK_PREFIX, PARTS_PREFIX)

    def record_object_keys(self, digest: bytes, record: BlobRecord | PartsRecord) -> set[str]:
        """The keys of every object the record of blob ``digest`` needs besides itself: its
        chunks (a blob of one chunk is the chunk named by its own digest) and the parts kept as
        objects of their own. The one place that says what a record references (for garbage
        collection); the chunk list of a big blob is read in batches."""
        parts = self._parts_of(digest, record)
        keys = set(parts.object_keys)
        if parts.chunk_count == 0:
            return keys | ({chunk_key(digest)} if parts.size else set())
        keys.update(chunk_key(place.digest) for place in parts.all_chunks())
        return keys


class ChunkedWriter(BlobWriter):
    """Cuts what is written into chunks as it arrives and stores them, writes the blob's parts
    (post-order bao, chunk list, index) as it goes; ``close`` adds the record.

    Holds at most the maximum chunk size plus CUT_WINDOW bytes of uncut data, and a part's
    inline buffer, whatever the blob size or the size of one write.
    """

    def __init__(self, store: ChunkedStore) -> None:
        self._store = store
        self._sizes = store.chunk_sizes
        self._window = store.chunk_sizes.max + CUT_WINDOW
        self._pending = bytearray()
        self._builder = bao.PostOrderBuilder(store.bao_shift)
        # What this Put relies on, announced before it touches it (see intents.py): its chunks,
        # and its parts before they spill into objects of their own.
        self._intents = Intents(store.backend)
        self._parts = PartsWriter(
            store.backend,
            index_block=store.chunk_sizes.max,
            on_spill=lambda key: self._intents.announce([key]),
        )
        self._in_flight: deque[tuple[ChunkMeta, Future[float | None]]] = deque()
        self._digest: bytes | None = None
        self._failed: str | None = None

    def write(self, data: Buffer) -> int:
        self._check_writable()
        with memoryview(data) as view, view.cast("B") as flat:
            total = len(flat)
            try:
                self._parts.add_bao(self._builder.update(flat))
            except BaseException as error:
                self._mark_failed(error)
                raise
            offset = 0
            while offset < total:
                take = min(total - offset, self._window - len(self._pending))
                self._pending += flat[offset : offset + take]
                offset += take
                if len(self._pending) >= self._window:
                    self._cut(final=False)
        return total

    def close(self) -> bytes:
        if self._digest is not None:
            return self._digest
        self._check_writable()
        self._cut(final=True)
        self._settle(0)
        parts = self._parts
        try:
            root, rest = self._builder.finalize()
            parts.add_bao(rest)
            refs = parts.close()
        except BaseException as error:
            self._mark_failed(error)
            raise
        single = parts.chunk_count <= 1
        if single:
            refs[1:] = [PartRef(0, b""), PartRef(0, b"")]
        record = PartsRecord(
            size=parts.size,
            bao_shift=self._store.bao_shift,
            chunk_count=0 if single else parts.chunk_count,
            index_block=parts.index_block,
            chunk_sizes=self._sizes,
            upload_id=parts.upload_id,
            parts=(refs[0], refs[1], refs[2]),
        )
        try:
            written = self._store._store_record(root, record)
        except BaseException as error:
            parts.discard(refs)
            self._mark_failed(error)
            raise
        if not written:
            parts.discard(refs)  # the blob was stored before: its record names other parts
        self._digest = root
        self._intents.commit()
        self._store._remove_expired_intents()
        return root

    def abort(self) -> None:
        """Discard the blob: nothing becomes visible, and the chunks this writer stored that no
        other Put relies on are removed (best effort: garbage collection removes the rest)."""
        if self._digest is not None:
            return
        self._failed = self._failed or "aborted"
        self._parts.abort()
        self._pending = bytearray()
        self._drain_quietly()
        self._intents.abort()

    def _check_writable(self) -> None:
        if self._digest is not None:
            raise ValueError("blob writer is closed")
        if self._failed is not None:
            raise ValueError(f"blob writer is unusable ({self._failed})")

    def _cut(self, *, final: bool) -> None:
        sizes = self._sizes
        lengths = bao.cdc_cut_lengths(self._pending, sizes.min, sizes.avg, sizes.max, final)
        if not lengths:
            return
        pool = upload_pool()
        ends = list(accumulate(lengths))
        starts = [0, *ends[:-1]]
        with memoryview(self._pending) as pending:
            views = [pending[start:end] for start, end in zip(starts, ends, strict=True)]
            try:
                # Hashed first (in parallel), so the intent names every chunk before any is
                # checked or written.
                digests = list(pool.map(bao.hash, views))
            finally:
                for view in views:
                    view.release()
            try:
                self._intents.announce([chunk_key(digest) for digest in digests])
            except BaseException as error:
                self._mark_failed(error)
                raise
            for start, end, digest in zip(starts, ends, digests, strict=True):
                chunk = bytes(pending[start:end])
                upload = pool.submit(self._store._store_hashed_chunk, chunk, digest)
                self._in_flight.append((ChunkMeta(digest, end - start), upload))
                self._settle(MAX_CHUNKS_IN_FLIGHT)
        del self._pending[: ends[-1]]

    def _settle(self, keep: int) -> None:
        """Wait for the oldest uploads until at most ``keep`` remain in flight, in order."""
        try:
            while len(self._in_flight) > keep:
                meta, upload = self._in_flight[0]
                self._uploaded(meta, upload)
                self._parts.add_chunk(meta)
                self._in_flight.popleft()
        except BaseException as error:
            self._mark_failed(error)
            raise

    def _uploaded(self, meta: ChunkMeta, upload: Future[float | None]) -> None:
        """Wait for one upload; note the chunk as this writer's when it was the one to store it."""
        written = upload.result()
        if written is not None:
            self._intents.wrote(chunk_key(meta.digest), written)

    def _mark_failed(self, error: BaseException) -> None:
        self._failed = f"an earlier write failed: {error!r}"
        self._pending = bytearray()
        self._parts.abort()
        self._drain_quietly()

    def _drain_quietly(self) -> None:
        # Let started uploads finish (each is atomic) so none runs on after the writer is gone;
        # what they stored is noted, for abort to remove.
        while self._in_flight:
            meta, upload = self._in_flight.popleft()
            if not upload.cancel() and upload.exception() is None:
                self._uploaded(meta, upload)


class ChunkedReader(io.RawIOBase):
    """A seekable raw file over a blob's chunk objects, fetched lazily, one held at a time; the
    chunk list is read in batches around the position, never whole."""

    def __init__(self, store: ChunkedStore, parts: BlobParts) -> None:
        super().__init__()
        self._store = store
        self._parts = parts
        self._size = parts.size
        self._position = 0
        self._batch: list[ChunkPlace] = []
        self._batch_ends: list[int] = []
        self._batch_next = 0  # the number of the chunk after the batch
        self._loaded: ChunkPlace | None = None
        self._data = memoryview(b"")

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        self._position = seek_target(offset, whence, self._position, self._size)
        return self._position

    def readinto(self, buffer: Buffer) -> int:
        self._check_open()
        with memoryview(buffer) as view, view.cast("B") as out:
            if self._position >= self._size or not len(out):
                return 0
            place, data = self._chunk_at(self._position)
            within = self._position - place.start
            count = min(len(out), len(data) - within)
            out[:count] = data[within : within + count]
        self._position += count
        return count

    def readall(self) -> bytes:
        self._check_open()
        parts = []
        while self._position < self._size:
            place, data = self._chunk_at(self._position)
            within = self._position - place.start
            parts.append(data[within:] if within else data)
            self._position = place.end
        return b"".join(parts)

    def close(self) -> None:
        self._data = memoryview(b"")
        self._loaded = None
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _chunk_at(self, position: int) -> tuple[ChunkPlace, memoryview]:
        loaded = self._loaded
        if loaded is None or not loaded.start <= position < loaded.end:
            place = self._place_at(position)
            self._data = self._store._place_view(place)
            self._loaded = place
            loaded = place
        return loaded, self._data

    def _place_at(self, position: int) -> ChunkPlace:
        """The chunk holding ``position``: from the batch of entries read last, the batch after
        it, or a batch starting at that chunk (found through the index)."""
        parts = self._parts
        if parts.chunk_count == 0:
            return ChunkPlace(parts.digest, 0, parts.size)
        if self._batch and position == self._batch_ends[-1]:
            self._load_batch(self._batch_next)
        elif not (self._batch and self._batch[0].start <= position < self._batch_ends[-1]):
            first, _ = parts.chunk_numbers(position, position + 1)
            self._load_batch(first)
            while self._batch_ends[-1] <= position:
                self._load_batch(self._batch_next)
        return self._batch[bisect_right(self._batch_ends, position)]

    def _load_batch(self, first: int) -> None:
        self._batch = self._parts.chunk_entries(first, first + ENTRY_BATCH)
        if not self._batch:
            raise DataLossError(f"blob {self._parts.digest.hex()}: its chunk list ends early")
        self._batch_ends = [place.end for place in self._batch]
        self._batch_next = first + len(self._batch)


def _missing(place: ChunkPlace) -> DataLossError:
    return DataLossError(f"chunk {place.digest.hex()} at offset {place.start} is missing")


def _chunk_count(record: BlobRecord | PartsRecord) -> int:
    """How many chunks a record of either version lists (0: the blob is one chunk, or empty)."""
    return record.chunk_count if isinstance(record, PartsRecord) else len(record.chunks)


def _digests_under(backend: ObjectBackend, prefix: str) -> Iterator[bytes]:
    for key in backend.keys(prefix):
        name = key.rsplit("/", 1)[-1]
        try:
            digest = bytes.fromhex(name)
        except ValueError:
            continue  # not one of ours
        if len(digest) == 32:
            yield digest
