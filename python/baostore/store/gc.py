"""Garbage collection of a chunked store, safe while Puts run.

What goes: the objects that exist only for records (``ChunkedStore.blob_object_prefixes``: the
chunks) when no record names them (``ChunkedStore.record_object_keys``), no Put relies on them
(their intents, see intents.py) and they are older than the grace period; and the leftovers of
writers that died: intents that expired, condemned lists of deleters that died, staging files
of a file store. Records are never removed here (``baostore rm`` does that).

How it stays safe while Puts run is intents.py's protocol: the candidates are condemned in
slices (a list written before any of them is deleted), then the intents of running and recently
ended Puts and the records written since the first listing are read again, and only what is in
none of them is deleted. The grace period adds a margin for writers that do not announce what
they write (a chunk cache filled with ``put_chunk``, another version of baostore).

A damaged record stops everything before anything is deleted: what it references is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from baostore.errors import DataLossError
from baostore.store.chunked import ChunkedStore
from baostore.store.fsck import local_root, staging_leftovers
from baostore.store.intents import (
    CONDEMNED_PREFIX,
    MARKER_LIFETIME,
    encode_keys,
    live_intent_keys,
    new_id,
    remove_expired_intents,
)
from baostore.store.objects import ObjectInfo

# Candidates condemned and deleted at a time: a Put that needs one of them waits for at most one
# slice of deletes.
SLICE = 1000
# Staging files younger than this may belong to a write in progress, whatever the grace period.
STAGING_MIN_AGE = 60.0
DEFAULT_GRACE = 3600.0

Clock = Callable[[], float]


@dataclass
class GcReport:
    """What a collection found and removed (with ``dry_run``: what it would remove)."""

    grace: float
    dry_run: bool = False
    records: int = 0
    objects: int = 0  # objects that exist for records (chunks), listed
    referenced: int = 0  # of those, named by a record
    pending: int = 0  # kept: a running Put relies on them, or one that ended recently
    young: int = 0  # kept: younger than the grace period
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    expired_intents: int = 0  # objects of intents that expired, removed
    stale_markers: int = 0  # condemned lists of deleters that died, removed
    staging_removed: list[str] = field(default_factory=list)
    incomplete: bool = False  # a slice ran out of time: run again

    def to_json(self) -> dict[str, Any]:
        return {
            "grace_seconds": self.grace,
            "dry_run": self.dry_run,
            "records": self.records,
            "objects": self.objects,
            "referenced": self.referenced,
            "pending": self.pending,
            "young": self.young,
            "removed": list(self.removed),
            "removed_bytes": self.removed_bytes,
            "expired_intents": self.expired_intents,
            "stale_markers": self.stale_markers,
            "staging_removed": list(self.staging_removed),
            "incomplete": self.incomplete,
        }


def collect_garbage(
    store: ChunkedStore,
    grace: float = DEFAULT_GRACE,
    *,
    dry_run: bool = False,
    clock: Clock = time.time,
) -> GcReport:
    """Remove ``store``'s garbage (see the module docstring); ``grace`` in seconds."""
    if not grace >= 0:
        raise ValueError(f"the grace period must be >= 0 seconds, got {grace}")
    return _Collection(store, grace, dry_run, clock).run()


class _Collection:
    def __init__(self, store: ChunkedStore, grace: float, dry_run: bool, clock: Clock) -> None:
        self._store = store
        self._backend = store.backend
        self._clock = clock
        self._started = clock()
        self._known_records: set[str] = set()
        self._referenced: set[str] = set()
        self.report = GcReport(grace=grace, dry_run=dry_run)

    def run(self) -> GcReport:
        pending = live_intent_keys(self._backend, self._started)
        self._read_new_records()
        self.report.records = len(self._known_records)
        candidates = list(self._candidates(pending))
        if self.report.dry_run:
            self.report.removed = [info.key for info in candidates]
            self.report.removed_bytes = sum(info.size for info in candidates)
            return self.report
        for number, batch in enumerate(_slices(candidates, SLICE)):
            if not self._remove(batch, number):
                self.report.incomplete = True
                break
        self._remove_leftovers()
        return self.report

    def _read_new_records(self) -> set[str]:
        """Read the records not read yet; add what they reference; return those keys."""
        added: set[str] = set()
        for digest in self._store.record_digests():
            name = digest.hex()
            if name in self._known_records:
                continue
            try:
                record = self._store.read_record(digest)
            except DataLossError as error:
                raise DataLossError(
                    f"{error}; gc removes nothing more while a record is damaged (what it "
                    "references is unknown): run baostore fsck --repair first"
                ) from error
            self._known_records.add(name)
            if record is not None:
                added |= self._store.record_object_keys(digest, record)
        self._referenced |= added
        return added

    def _candidates(self, pending: set[str]) -> Iterator[ObjectInfo]:
        report = self.report
        cutoff = self._started - report.grace
        for prefix in self._store.blob_object_prefixes:
            for info in self._backend.objects(prefix):
                if "#" in info.key:
                    continue  # a file store's staging file: a leftover, judged below
                report.objects += 1
                if info.key in self._referenced:
                    report.referenced += 1
                elif info.key in pending:
                    report.pending += 1
                elif info.modified >= cutoff:
                    report.young += 1
                else:
                    yield info

    def _remove(self, batch: tuple[ObjectInfo, ...], number: int) -> bool:
        """Condemn ``batch``, spare what Puts and new records now name, delete the rest; False
        when the slice ran out of time (its condemned list would no longer hold Puts back)."""
        marker = f"{CONDEMNED_PREFIX}/gc-{new_id()}-{number}"
        self._backend.put_transient(marker, encode_keys(info.key for info in batch))
        marked = time.monotonic()
        try:
            spared = live_intent_keys(self._backend, self._clock()) | self._read_new_records()
            for info in batch:
                if info.key in spared:
                    self.report.pending += 1
                    continue
                if time.monotonic() - marked > MARKER_LIFETIME / 2:
                    return False
                self._backend.delete(info.key)
                self.report.removed.append(info.key)
                self.report.removed_bytes += info.size
        finally:
            self._backend.delete(marker)
        return True

    def _remove_leftovers(self) -> None:
        now = self._clock()
        self.report.expired_intents = remove_expired_intents(self._backend, now)
        for info in list(self._backend.objects(CONDEMNED_PREFIX)):
            if now - info.modified >= MARKER_LIFETIME:
                self._backend.delete(info.key)
                self.report.stale_markers += 1
        root = local_root(self._backend.description)
        if root is None:
            return
        cutoff = now - max(self.report.grace, STAGING_MIN_AGE)
        # A running Put's part streams into its staging file (announced by its final key).
        writing = live_intent_keys(self._backend, now)
        for name in staging_leftovers(root):
            if name.partition("#")[0] in writing:
                continue
            path = root / name
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    self.report.staging_removed.append(name)
            except FileNotFoundError:
                continue  # its write just finished (or failed)


def _slices(items: list[ObjectInfo], size: int) -> Iterator[tuple[ObjectInfo, ...]]:
    iterator = iter(items)
    while batch := tuple(islice(iterator, size)):
        yield batch
