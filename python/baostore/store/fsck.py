"""Consistency check (fsck) of a chunked store: re-hash every chunk and record, repair on request.

What is checked:

* every record parses (its own checksum included), its chunks are all present, each holds the
  size the record says and hashes to its key, and the blob's data hashes to the blob's digest and
  to the record's bao: the data is fed chunk by chunk through a ``bao.PostOrderBuilder`` whose
  output is compared with the stored post-order bao piece by piece (memory stays at one chunk
  and one piece, whatever the blob's size; a version-1 record's pre_order bao is compared in the
  same layout);
* every chunk object no record covered hashes to its key; part objects (the bao, chunk list and
  index of big blobs) that no record names are reported with the unreferenced chunks.

Each referenced chunk is read once per record that uses it; chunks no intact record uses are read
once more on their own.

**Unreferenced chunks.** Every put through ChunkedStore writes a record, even for a blob that is a
single chunk (its record has an empty chunk list and names the chunk by the blob's own digest), so
a chunk used by no intact record comes from a put that never finished (a crash, a cancelled
upload) or from a record that was removed. It is harmless: it hashes right and still reads as the
blob of its own digest. But it is also exactly what a put *in progress* looks like, since chunks
are written before their record: deleting unreferenced chunks while anyone writes to the store
can remove a chunk that a record is about to name (and dedup makes a new put skip uploading a
chunk that exists at the moment it checks). So they are only reported by default, never counted
as corruption, and removed only with ``remove_unreferenced`` — meant for a store nobody writes to.

**Staging leftovers.** A file store writes each object to ``<key>#<n>`` and renames it into place;
a process killed between the two leaves the staging file behind. The backend never lists those,
so for ``file://`` stores fsck walks the directory for them: reported like unreferenced chunks,
removed with ``remove_unreferenced`` (removing one that belongs to a write in progress only makes
that write fail).

**Repair** removes broken records first (so no record ever points at a chunk that is gone), then
corrupt chunks; a record that used a corrupt chunk is broken too, so it goes as well.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from baostore import bao
from baostore.sizes import MiB
from baostore.store.chunked import (
    CHUNK_PREFIX,
    MAX_CHUNK_SIZE_LIMIT,
    PARTS_PREFIX,
    RECORD_PREFIX,
    ChunkedStore,
    chunk_key,
    record_key,
)
from baostore.store.intents import CONDEMNED_PREFIX, PENDING_PREFIX
from baostore.store.interface import StoreError
from baostore.store.parts import BlobParts, ChunkPlace

# Bytes of rebuilt bao compared with the stored one at a time.
BAO_COMPARE_PIECE = MiB

ObjectKind = Literal["chunk", "record"]


@dataclass(frozen=True)
class Problem:
    """A damaged object: which kind, its digest, and what is wrong with it."""

    kind: ObjectKind
    digest: bytes
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "digest": self.digest.hex(), "reason": self.reason}


@dataclass
class FsckReport:
    """What a check found (and, with repair, removed)."""

    records_checked: int = 0
    chunks_checked: int = 0
    bytes_checked: int = 0
    corrupt_chunks: list[Problem] = field(default_factory=list)
    broken_records: list[Problem] = field(default_factory=list)
    unreferenced_chunks: list[bytes] = field(default_factory=list)
    unreferenced_parts: list[str] = field(default_factory=list)
    staging_leftovers: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def corrupt(self) -> bool:
        """Whether anything was damaged (unreferenced chunks are not damage)."""
        return bool(self.corrupt_chunks or self.broken_records)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.corrupt,
            "records_checked": self.records_checked,
            "chunks_checked": self.chunks_checked,
            "bytes_checked": self.bytes_checked,
            "corrupt_chunks": [problem.to_json() for problem in self.corrupt_chunks],
            "broken_records": [problem.to_json() for problem in self.broken_records],
            "unreferenced_chunks": [digest.hex() for digest in self.unreferenced_chunks],
            "unreferenced_parts": list(self.unreferenced_parts),
            "staging_leftovers": list(self.staging_leftovers),
            "removed": list(self.removed),
        }


def _no_progress(objects: int) -> None:
    del objects


@dataclass(frozen=True)
class FsckOptions:
    repair: bool = False
    remove_unreferenced: bool = False


class _BaoDiffers(Exception):
    """The stored bao differs from the one rebuilt from the data."""


class _BaoComparison:
    """The stored post-order bao of ``parts``, compared piece by piece with a rebuilt one."""

    def __init__(self, parts: BlobParts) -> None:
        self._parts = parts
        self._pending = bytearray()
        self._compared = 0

    def add(self, rebuilt: bytes) -> None:
        self._pending += rebuilt
        if len(self._pending) >= BAO_COMPARE_PIECE:
            self._compare()

    def finish(self) -> None:
        self._compare()
        stored = self._parts.parts["bao"].length
        if self._compared != stored:
            raise _BaoDiffers(f"{stored} bytes stored, {self._compared} rebuilt")

    def _compare(self) -> None:
        if not self._pending:
            return
        end = self._compared + len(self._pending)
        if end > self._parts.parts["bao"].length:
            raise _BaoDiffers(f"rebuilt past the stored {self._parts.parts['bao'].length} bytes")
        (stored,) = self._parts.read("bao", [(self._compared, end)])
        if stored != self._pending:
            raise _BaoDiffers(f"in bytes {self._compared}..{end} of the post-order bao")
        self._compared = end
        self._pending = bytearray()


class _ChunkDamage(Exception):
    """A chunk object is absent, too big, of the wrong size or hashes to another digest."""


class StoreChecker:
    """One fsck run over ``store``; ``count_objects`` first (for a progress total), then ``run``.

    ``advance(n)`` is called after every n objects checked.
    """

    def __init__(
        self,
        store: ChunkedStore,
        options: FsckOptions = FsckOptions(),
        advance: Callable[[int], None] = _no_progress,
    ) -> None:
        if options.remove_unreferenced and not options.repair:
            raise ValueError("removing unreferenced chunks is a repair: it needs repair=True")
        self._store = store
        self._options = options
        self._advance = advance
        self._record_digests: list[bytes] | None = None
        self._chunk_digests: set[bytes] | None = None
        self._good_chunks: set[bytes] = set()
        self._bad_chunks: dict[bytes, str] = {}
        self._referenced: set[bytes] = set()
        self._referenced_parts: set[str] = set()
        self.report = FsckReport()

    def count_objects(self) -> int:
        """List the store (once) and return how many objects the run will check."""
        if self._record_digests is None or self._chunk_digests is None:
            self._record_digests = list(self._store.record_digests())
            self._chunk_digests = set(self._store.chunk_digests())
        return len(self._record_digests) + len(self._chunk_digests)

    def run(self) -> FsckReport:
        self.count_objects()
        assert self._record_digests is not None and self._chunk_digests is not None
        for digest in self._record_digests:
            self._check_record(digest)
            self._advance(1)
        for digest in sorted(self._chunk_digests):
            if digest not in self._good_chunks and digest not in self._bad_chunks:
                self._check_chunk_object(digest)
            if digest not in self._bad_chunks and digest not in self._referenced:
                self.report.unreferenced_chunks.append(digest)
            self._advance(1)
        self.report.unreferenced_parts = sorted(
            key for key in self._store.part_keys() if key not in self._referenced_parts
        )
        self.report.corrupt_chunks = [
            Problem("chunk", digest, reason) for digest, reason in sorted(self._bad_chunks.items())
        ]
        root = local_root(self._store.backend.description)
        if root is not None:
            self.report.staging_leftovers = staging_leftovers(root)
        if self._options.repair:
            self._repair()
        return self.report

    # -- records -------------------------------------------------------------------------------

    def _check_record(self, digest: bytes) -> None:
        self.report.records_checked += 1
        try:
            parts = self._store.blob_parts(digest, with_bao=True)
        except StoreError as error:
            self._broken(digest, str(error))
            return
        if parts is None:
            return  # removed since the listing
        self._referenced_parts.update(parts.object_keys)
        pieces: list[ChunkPlace] = []
        problem = self._verify_blob(digest, parts, pieces)
        if problem is not None:
            self._broken(digest, problem)
            return
        self._referenced.add(digest)
        self._referenced.update(piece.digest for piece in pieces)

    def _verify_blob(self, digest: bytes, parts: BlobParts, pieces: list[ChunkPlace]) -> str | None:
        """Why the blob's data does not match its record and digest, or None if it does. Fills
        ``pieces`` with the chunks the record names."""
        builder = bao.PostOrderBuilder(parts.bao_shift)
        rebuilt = _BaoComparison(parts)
        end = 0
        try:
            for index, piece in enumerate(parts.all_chunks()):
                pieces.append(piece)
                end = piece.end
                known_bad = self._bad_chunks.get(piece.digest)
                if known_bad is not None:
                    return f"chunk {index} ({piece.digest.hex()}) is corrupt: {known_bad}"
                try:
                    data = self._read_chunk(piece.digest, piece.size)
                except _ChunkDamage as error:
                    return f"chunk {index} ({piece.digest.hex()}): {error}"
                rebuilt.add(builder.update(data))
            if end != parts.size:
                return f"its chunks end at byte {end}, the blob has {parts.size}"
            root, rest = builder.finalize()
            rebuilt.add(rest)
            rebuilt.finish()
        except _BaoDiffers as error:
            return f"its bao does not match its data: {error}"
        except StoreError as error:
            return str(error)
        if root != digest:
            return "the data does not verify against the digest: it hashes to " + root.hex()
        return None

    def _broken(self, digest: bytes, reason: str) -> None:
        self.report.broken_records.append(Problem("record", digest, reason))

    # -- chunks --------------------------------------------------------------------------------

    def _read_chunk(self, digest: bytes, expected_size: int | None) -> bytes:
        """The chunk's bytes once they hash to ``digest``; _ChunkDamage otherwise.

        A chunk that exists but hashes wrong is remembered as corrupt; a missing one or one of
        an unexpected (but self-consistent) size only breaks the record asking for it.
        """
        key = chunk_key(digest)
        size = self._store.backend.size(key)
        if size is None:
            raise _ChunkDamage("missing")
        if size > MAX_CHUNK_SIZE_LIMIT:
            # Larger than any chunk we write: not read at all, so memory stays bounded.
            reason = f"{size} bytes, more than any chunk ({MAX_CHUNK_SIZE_LIMIT})"
            self._bad_chunks[digest] = reason
            raise _ChunkDamage(reason)
        data = self._store.backend.get(key)
        if data is None:
            raise _ChunkDamage("missing")
        if digest not in self._good_chunks:
            self.report.chunks_checked += 1
            self.report.bytes_checked += len(data)
            if bao.hash(data) != digest:
                reason = "its content hashes to another digest"
                self._bad_chunks[digest] = reason
                raise _ChunkDamage(reason)
            self._good_chunks.add(digest)
        if expected_size is not None and len(data) != expected_size:
            raise _ChunkDamage(f"holds {len(data)} bytes, the record says {expected_size}")
        return data

    def _check_chunk_object(self, digest: bytes) -> None:
        # A corrupt chunk lands in _bad_chunks; one deleted since the listing is no news.
        with suppress(_ChunkDamage):
            self._read_chunk(digest, None)

    # -- repair --------------------------------------------------------------------------------

    def _repair(self) -> None:
        for problem in self.report.broken_records:
            self._remove(record_key(problem.digest))
        for problem in self.report.corrupt_chunks:
            self._remove(chunk_key(problem.digest))
        if self._options.remove_unreferenced:
            for digest in self.report.unreferenced_chunks:
                self._remove(chunk_key(digest))
            for key in self.report.unreferenced_parts:
                self._remove(key)
            root = local_root(self._store.backend.description)
            for name in self.report.staging_leftovers:
                if root is not None:
                    (root / name).unlink(missing_ok=True)
                    self.report.removed.append(name)

    def _remove(self, key: str) -> None:
        self._store.backend.delete(key)
        self.report.removed.append(key)


def local_root(description: str) -> Path | None:
    """The directory of a file backend (described by its ``file://`` URL), else None."""
    parts = urlsplit(description)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def staging_leftovers(root: Path) -> list[str]:
    """Staging files (``<key>#<n>``) under the store's prefixes, relative to ``root``."""
    found: list[str] = []
    for prefix in (CHUNK_PREFIX, RECORD_PREFIX, PARTS_PREFIX, PENDING_PREFIX, CONDEMNED_PREFIX):
        pattern = "*#*" if prefix == CONDEMNED_PREFIX else "*/*#*"
        found.extend(
            path.relative_to(root).as_posix()
            for path in (root / prefix).glob(pattern)
            if path.is_file()
        )
    return sorted(found)


def check_store(
    store: ChunkedStore,
    options: FsckOptions = FsckOptions(),
    advance: Callable[[int], None] = _no_progress,
) -> FsckReport:
    """Check ``store`` (see the module docstring); repair it if ``options`` say so."""
    return StoreChecker(store, options, advance).run()
