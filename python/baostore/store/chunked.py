"""The chunked blob store over object storage (memory, local files, S3).

Blobs are cut by FastCDC 2020 into content-defined chunks, each stored once under its own digest
(``chunks/<hex[:2]>/<hex>``); a blob that is a single chunk is that chunk's object. A per-blob
record (``blobs/<hex[:2]>/<hex>``, see record.py) holds the size, the chunk list and the pre_order
bao at the store's shift. The record is written last, after every chunk, so no record ever points
at a missing chunk; both kinds of object are written atomically by the backend.
"""

from __future__ import annotations

import io
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate

from typing_extensions import Buffer

from baostore import bao, metrics
from baostore.errors import DataLossError
from baostore.sizes import KiB, MiB
from baostore.store.interface import (
    DEFAULT_BAO_SHIFT,
    BaoFormat,
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    ChunkMeta,
    Stat,
    StatRequest,
    check_digest,
    check_shift,
)
from baostore.store.objects import ObjectBackend
from baostore.store.record import BlobRecord, RecordError, decode_record, encode_record
from baostore.store.seekable import seek_target

MAX_CHUNK_SIZE_LIMIT = 4 * MiB  # a chunk must fit one gRPC message (4 MiB budget) on its own
# Finer bao than the stored one needs the data again: rehash only blobs up to this size, above it
# answer with the stored shift (Stat.bao_shift says so).
REHASH_LIMIT = 256 * MiB
# A rehash costs CPU for the whole blob and holds its new bao (up to 16 MiB for 256 MiB at shift
# 0), and the shift is the caller's choice: a server would otherwise hold one per concurrent Stat.
# Few at a time is no slower on a few cores, and bounds that memory to REHASH_SLOTS baos.
REHASH_SLOTS = 2
_rehash_slots = threading.BoundedSemaphore(REHASH_SLOTS)
READ_BUFFER_SIZE = 64 * KiB
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


@dataclass(frozen=True)
class ChunkSizes:
    """FastCDC 2020 bounds: minimum, average (target) and maximum chunk size in bytes."""

    min: int
    avg: int
    max: int

    def __post_init__(self) -> None:
        if not 0 < self.min <= self.avg <= self.max <= MAX_CHUNK_SIZE_LIMIT:
            raise ValueError(
                f"chunk sizes need 0 < min <= avg <= max <= {MAX_CHUNK_SIZE_LIMIT}, got "
                f"min={self.min} avg={self.avg} max={self.max}"
            )
        # FastCDC has its own bounds per parameter; let it judge them now, not at the first put.
        bao.cdc_cut_lengths(b"", self.min, self.avg, self.max, True)


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


@dataclass(frozen=True)
class _Entry:
    """A blob as found: from its record, or a bare chunk (record None)."""

    digest: bytes
    size: int
    record: BlobRecord | None

    @property
    def chunks(self) -> tuple[ChunkMeta, ...]:
        return self.record.chunks if self.record is not None else ()

    def pieces(self) -> tuple[ChunkMeta, ...]:
        """The objects holding the data, in order (a blob of one chunk is its own object)."""
        if self.chunks:
            return self.chunks
        return (ChunkMeta(self.digest, self.size),) if self.size else ()


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

    def __repr__(self) -> str:
        return f"ChunkedStore({self.backend.description}, bao_shift={self.bao_shift})"

    @property
    def trusted(self) -> bool:
        """Its data is its own (``baostore fsck`` checks it against the records and digests)."""
        return True

    # -- reading -------------------------------------------------------------------------------

    def has(self, digest: bytes) -> bool:
        digest = check_digest(digest)
        return (
            self.backend.size(record_key(digest)) is not None
            or self.backend.size(chunk_key(digest)) is not None
        )

    def chunks(self, digest: bytes) -> tuple[ChunkMeta, ...] | None:
        entry = self._lookup(check_digest(digest))
        return None if entry is None else entry.chunks

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        entry = self._lookup(digest)
        if entry is None:
            return None
        shift = self.bao_shift if request.bao_shift is None else request.bao_shift
        used_shift = self._answer_shift(entry, shift)
        bao_format = request.bao_format
        outboard = self._bao(entry, used_shift, bao_format) if request.send_bao else b""
        inline = None
        if request.inline_limit and entry.size <= request.inline_limit:
            inline = self._read_all(entry)
        return Stat(
            size=entry.size,
            chunks=entry.chunks if request.send_chunks else (),
            bao=outboard,
            bao_shift=used_shift,
            bao_format=bao_format,
            inline=inline,
        )

    def open_read(self, digest: bytes) -> BlobReader | None:
        entry = self._lookup(check_digest(digest))
        if entry is None:
            return None
        raw = ChunkedReader(self, entry.digest, entry.pieces())
        return io.BufferedReader(raw, buffer_size=READ_BUFFER_SIZE)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """The blob's (or chunk's) bytes, one chunk object per piece, fetched lazily."""
        entry = self._lookup(check_digest(digest))
        return None if entry is None else self._iter_data(entry)

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

    def list_blobs(self) -> Iterator[BlobEntry]:
        """Every blob with a record (one read per blob); DataLossError for a damaged record."""
        for digest in self.record_digests():
            record = self.read_record(digest)
            if record is not None:  # None: removed since it was listed
                count = len(record.chunks) or (1 if record.size else 0)
                yield BlobEntry(digest, record.size, count)

    def remove(self, digest: bytes) -> bool:
        """Remove the blob's record. Its chunks stay until garbage collection finds no record
        that uses them (they may be shared); a blob stored as one chunk stays readable as that
        chunk until then, like any chunk this store holds."""
        key = record_key(check_digest(digest))
        if self.backend.size(key) is None:
            return False
        self.backend.delete(key)
        return True

    def read_chunk(self, digest: bytes, expected_size: int | None = None) -> bytes | None:
        """The bytes of one chunk object, or None; DataLossError if not ``expected_size`` long."""
        data = self.backend.get(chunk_key(check_digest(digest)))
        if data is not None and expected_size is not None and len(data) != expected_size:
            raise DataLossError(
                f"chunk {digest.hex()} holds {len(data)} bytes, the record says {expected_size}"
            )
        return data

    def read_record(self, digest: bytes) -> BlobRecord | None:
        """The blob's record, or None; DataLossError (caused by a RecordError) if it is damaged."""
        digest = check_digest(digest)
        raw = self.backend.get(record_key(digest))
        if raw is None:
            return None
        try:
            return decode_record(raw)
        except RecordError as error:
            raise DataLossError(f"corrupt record for blob {digest.hex()}: {error}") from error

    def _lookup(self, digest: bytes) -> _Entry | None:
        record = self.read_record(digest)
        if record is not None:
            return _Entry(digest, record.size, record)
        size = self.backend.size(chunk_key(digest))
        return None if size is None else _Entry(digest, size, None)

    def _answer_shift(self, entry: _Entry, shift: int) -> int:
        record = entry.record
        if record is None or shift >= record.bao_shift or entry.size <= self.rehash_limit:
            return shift
        return record.bao_shift

    def _bao(self, entry: _Entry, shift: int, bao_format: BaoFormat) -> bytes:
        if bao.outboard_size(entry.size, shift, bao_format) == 0:
            return b""
        record = entry.record
        if record is None or shift < record.bao_shift:
            return self._rehash(entry, shift, bao_format)
        outboard = record.bao
        if shift > record.bao_shift:
            outboard = bao.coarsen(outboard, entry.size, record.bao_shift, shift, "pre_order")
        if bao_format != "pre_order":
            outboard = bao.convert_format(outboard, entry.size, shift, "pre_order", bao_format)
        return outboard

    def _rehash(self, entry: _Entry, shift: int, bao_format: BaoFormat) -> bytes:
        metrics.STAT_REHASHES.inc()
        with _rehash_slots:
            builder = bao.OutboardBuilder(shift, bao_format)
            for piece in self._iter_data(entry):
                builder.update(piece)
            root, outboard = builder.finalize()
        if root != entry.digest:
            raise DataLossError(
                f"blob {entry.digest.hex()} is corrupt: its chunks hash differently"
            )
        return outboard

    def _iter_data(self, entry: _Entry) -> Iterator[bytes]:
        for piece in entry.pieces():
            data = self.read_chunk(piece.digest, piece.size)
            if data is None:
                raise DataLossError(
                    f"blob {entry.digest.hex()}: chunk {piece.digest.hex()} missing"
                )
            yield data

    def _read_all(self, entry: _Entry) -> bytes:
        return b"".join(self._iter_data(entry))

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
        if expected_digest is not None and digest != expected_digest:
            return ChunkMeta(digest, len(data))
        key = chunk_key(digest)
        if self.backend.size(key) is None:
            self.backend.put(key, data)
        return ChunkMeta(digest, len(data))

    def _store_record(self, digest: bytes, record: BlobRecord) -> None:
        key = record_key(digest)
        if self.backend.size(key) is None:
            self.backend.put(key, encode_record(record))


class ChunkedWriter(BlobWriter):
    """Cuts what is written into chunks as it arrives and stores them; ``close`` adds the record.

    Holds at most the maximum chunk size plus CUT_WINDOW bytes of uncut data, whatever the blob
    size or the size of one write.
    """

    def __init__(self, store: ChunkedStore) -> None:
        self._store = store
        self._sizes = store.chunk_sizes
        self._window = store.chunk_sizes.max + CUT_WINDOW
        self._pending = bytearray()
        self._builder = bao.OutboardBuilder(store.bao_shift, "pre_order")
        self._chunks: list[ChunkMeta] = []
        self._in_flight: deque[Future[ChunkMeta]] = deque()
        self._digest: bytes | None = None
        self._failed: str | None = None

    def write(self, data: Buffer) -> int:
        self._check_writable()
        with memoryview(data) as view, view.cast("B") as flat:
            total = len(flat)
            self._builder.update(flat)
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
        root, outboard = self._builder.finalize()
        size = sum(chunk.size for chunk in self._chunks)
        chunks = tuple(self._chunks) if len(self._chunks) > 1 else ()
        record = BlobRecord(size=size, bao_shift=self._store.bao_shift, chunks=chunks, bao=outboard)
        try:
            self._store._store_record(root, record)
        except BaseException as error:
            self._mark_failed(error)
            raise
        self._digest = root
        return root

    def abort(self) -> None:
        if self._digest is None:
            self._failed = self._failed or "aborted"
        self._pending = bytearray()
        self._drain_quietly()

    def _check_writable(self) -> None:
        if self._digest is not None:
            raise ValueError("blob writer is closed")
        if self._failed is not None:
            raise ValueError(f"blob writer is unusable ({self._failed})")

    def _cut(self, *, final: bool) -> None:
        sizes = self._sizes
        lengths = bao.cdc_cut_lengths(self._pending, sizes.min, sizes.avg, sizes.max, final)
        offset = 0
        pool = upload_pool()
        with memoryview(self._pending) as pending:
            for length in lengths:
                chunk = bytes(pending[offset : offset + length])
                self._in_flight.append(pool.submit(self._store._store_chunk, chunk))
                offset += length
                self._settle(MAX_CHUNKS_IN_FLIGHT)
        del self._pending[:offset]

    def _settle(self, keep: int) -> None:
        """Wait for the oldest uploads until at most ``keep`` remain in flight, in order."""
        try:
            while len(self._in_flight) > keep:
                self._chunks.append(self._in_flight[0].result())
                self._in_flight.popleft()
        except BaseException as error:
            self._mark_failed(error)
            raise

    def _mark_failed(self, error: BaseException) -> None:
        self._failed = f"an earlier write failed: {error!r}"
        self._pending = bytearray()
        self._drain_quietly()

    def _drain_quietly(self) -> None:
        # Let started uploads finish (each is atomic) so none runs on after the writer is gone.
        while self._in_flight:
            future = self._in_flight.popleft()
            if not future.cancel():
                future.exception()


class ChunkedReader(io.RawIOBase):
    """A seekable raw file over a blob's chunk objects, fetched lazily, one held at a time."""

    def __init__(self, store: ChunkedStore, digest: bytes, pieces: tuple[ChunkMeta, ...]) -> None:
        super().__init__()
        self._store = store
        self._digest = digest
        self._pieces = pieces
        self._starts = [0, *accumulate(piece.size for piece in pieces)]
        self._size = self._starts[-1]
        self._position = 0
        self._loaded_index = -1
        self._loaded = b""

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
            index = bisect_right(self._starts, self._position) - 1
            data = self._chunk(index)
            within = self._position - self._starts[index]
            count = min(len(out), len(data) - within)
            out[:count] = data[within : within + count]
        self._position += count
        return count

    def readall(self) -> bytes:
        self._check_open()
        parts = []
        while self._position < self._size:
            index = bisect_right(self._starts, self._position) - 1
            within = self._position - self._starts[index]
            data = self._chunk(index)
            parts.append(data[within:] if within else data)
            self._position = self._starts[index + 1]
        return b"".join(parts)

    def close(self) -> None:
        self._loaded = b""
        self._loaded_index = -1
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _chunk(self, index: int) -> bytes:
        if index != self._loaded_index:
            piece = self._pieces[index]
            data = self._store.read_chunk(piece.digest, piece.size)
            if data is None:
                raise DataLossError(
                    f"blob {self._digest.hex()}: chunk {piece.digest.hex()} is missing"
                )
            self._loaded = data
            self._loaded_index = index
        return self._loaded


def _digests_under(backend: ObjectBackend, prefix: str) -> Iterator[bytes]:
    for key in backend.keys(prefix):
        name = key.rsplit("/", 1)[-1]
        try:
            digest = bytes.fromhex(name)
        except ValueError:
            continue  # not one of ours
        if len(digest) == 32:
            yield digest
