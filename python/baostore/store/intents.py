"""Intents: how Puts and deleters (garbage collection, an aborting Put cleaning up after itself)
share one object store safely.

A chunk a Put relies on may be one it writes or one that was already there (dedup), and until
its record is written nothing but the Put itself knows that the chunk is in use. So, before it
checks or writes any chunk, a Put says so in an **intent**, and before it deletes anything a
deleter says so in a **condemned** list:

    pending/<put-id>/<seq>       the keys of a batch of chunks a Put is about to check or write,
                                 one per line, written before it touches any of them
    pending/<put-id>/alive       rewritten every HEARTBEAT seconds while the Put is open
    gc/condemned/<deleter-id>    the keys a deleter is about to delete (empty: the keys of the
                                 intents of the aborting Put ``<deleter-id>``, so that a Put on a
                                 full disk can still clean up after itself)

**A Put**, batch by batch: writes the intent, *then* looks for condemned lists naming any of its
keys and waits until they are gone (their deleter finished) before it checks (HEAD) and writes
the chunks. Its intents stay after its record is written: they keep protecting what it relied
on until INTENT_LIFETIME has passed since the Put's last write (a Put that aborts removes them).

**A deleter**: writes its condemned list, *then* lists the intents of every Put whose intents
are still alive and spares their keys (gc also spares the keys of records listed after that),
deletes the rest, and removes its list.

Why nothing in use is deleted: take a Put relying on a key K that a deleter condemns. If the
Put's intent for K came before the deleter listed intents, the deleter sees it (the intent lives
while the Put runs and INTENT_LIFETIME after it; gc also re-lists records, for Puts that ended
earlier) and spares K. Otherwise the intent came after the condemned list was written, so the
Put's look for condemned lists, which follows its intent, finds K condemned and waits until the
deleter is done; its HEAD then finds K gone and it writes K again. A deleter stops deleting once
its list is MARKER_LIFETIME/2 old and Puts ignore lists older than MARKER_LIFETIME, so a deleter
that died never blocks Puts for long.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator

from baostore.errors import UnavailableError
from baostore.store.objects import ObjectBackend, ObjectInfo

log = logging.getLogger(__name__)

PENDING_PREFIX = "pending"
CONDEMNED_PREFIX = "gc/condemned"
ALIVE_NAME = "alive"
# An open Put rewrites its alive object this often, so its intents never expire while it runs.
HEARTBEAT = 120.0
# Intents protect their keys until their Put's last write is this old: far above HEARTBEAT (a
# missed beat or a slow clock does not end the protection of a running Put) and above any time a
# deleter spends between its condemned list and its deletes.
INTENT_LIFETIME = 1200.0
# An aborting Put deletes only chunks it wrote this recently: any Put that relied on one of them
# since then still has live intents naming it.
ABORT_WINDOW = 300.0
# Puts ignore condemned lists older than this; deleters stop deleting at half of it.
MARKER_LIFETIME = 600.0
# How long a Put waits for a deleter that condemned keys it needs before it gives up.
CONDEMNED_WAIT = 60.0
_POLL_SECONDS = 0.05

Clock = Callable[[], float]


def new_id() -> str:
    """A fresh Put or deleter id (random: no coordination between writers is needed)."""
    return secrets.token_hex(12)


def encode_keys(keys: Iterable[str]) -> bytes:
    return "".join(f"{key}\n" for key in keys).encode()


def decode_keys(data: bytes) -> frozenset[str]:
    """The keys of an intent or condemned list; a damaged line names no key of ours."""
    return frozenset(line for line in data.decode("utf-8", "replace").split("\n") if line)


class Intents:
    """The intents of one Put: ``announce`` keys before touching them, ``wrote`` what it wrote,
    then ``commit`` (the intents stay until they expire) or ``abort`` (remove what it wrote, when
    no other Put relies on it, and its intents)."""

    def __init__(self, backend: ObjectBackend, *, clock: Clock = time.time) -> None:
        self.backend = backend
        self.put_id = new_id()
        self._clock = clock
        self._batches = 0
        self._written: list[tuple[str, float]] = []
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._open = True

    @property
    def prefix(self) -> str:
        return f"{PENDING_PREFIX}/{self.put_id}/"

    def announce(self, keys: list[str]) -> None:
        """Say that this Put is about to check or write ``keys``; return once no deleter has
        condemned any of them (UnavailableError if one still has after CONDEMNED_WAIT)."""
        if not keys:
            return
        with self._lock:
            name = f"{self.prefix}{self._batches:08d}"
            self._batches += 1
        self.backend.put_transient(name, encode_keys(keys))
        self._last_write = self._clock()
        if self._batches == 1:
            _HEARTBEATS.add(self)
        wait_while_condemned(self.backend, frozenset(keys), clock=self._clock)

    def wrote(self, key: str, when: float) -> None:
        """This Put stored ``key`` at ``when`` (it was not there before): its to remove on abort."""
        self._written.append((key, when))

    def beat(self) -> None:
        """Keep the intents alive (called by the heartbeat thread every HEARTBEAT seconds)."""
        if self._open and self._clock() - self._last_write >= HEARTBEAT:
            self.backend.put_transient(f"{self.prefix}{ALIVE_NAME}", b"")
            self._last_write = self._clock()

    def commit(self) -> None:
        """The record is written: stop the heartbeat; the intents expire on their own."""
        self._open = False

    def abort(self) -> None:
        """Remove the chunks this Put wrote in the last ABORT_WINDOW seconds that no other Put
        relies on, then its intents. Best effort: a failure leaves the rest to garbage
        collection."""
        self._open = False
        if not self._batches:
            return
        try:
            now = self._clock()
            recent = [key for key, when in self._written if now - when < ABORT_WINDOW]
            if recent:
                self._remove_unshared(recent)
        except Exception as error:  # cleanup is best effort: gc does the rest
            log.warning("aborted Put %s left its chunks to gc: %s", self.put_id, error)
        with contextlib.suppress(Exception):
            for key in list(self.backend.keys(self.prefix)):
                self.backend.delete(key)

    def _remove_unshared(self, keys: list[str]) -> None:
        marker = f"{CONDEMNED_PREFIX}/{self.put_id}"
        # Empty: "the keys of my intents". It needs no room for data, so a Put that failed on a
        # full disk can still mark what it is about to delete.
        self.backend.put_transient(marker, b"")
        marked = time.monotonic()
        try:
            shared = live_intent_keys(self.backend, self._clock(), exclude=self.put_id)
            for key in keys:
                if key in shared:
                    continue
                if time.monotonic() - marked > MARKER_LIFETIME / 2:
                    break
                self.backend.delete(key)
        finally:
            self.backend.delete(marker)


def remove_expired_intents(backend: ObjectBackend, now: float) -> int:
    """Remove the intents of Puts whose last write is INTENT_LIFETIME old (they protect nothing
    any more); return how many objects went."""
    removed = 0
    for objects in _intents_by_put(backend).values():
        if _expired(objects, now):
            for info in objects:
                backend.delete(info.key)
                removed += 1
    return removed


def _intents_by_put(backend: ObjectBackend) -> dict[str, list[ObjectInfo]]:
    by_put: dict[str, list[ObjectInfo]] = {}
    for info in backend.objects(PENDING_PREFIX):
        parts = info.key.split("/")
        if len(parts) == 3 and "#" not in parts[2]:  # not a file store's staging file
            by_put.setdefault(parts[1], []).append(info)
    return by_put


def _expired(objects: list[ObjectInfo], now: float) -> bool:
    return now - max(info.modified for info in objects) >= INTENT_LIFETIME


def live_intent_keys(backend: ObjectBackend, now: float, *, exclude: str | None = None) -> set[str]:
    """The keys named by the intents of Puts whose last write is younger than INTENT_LIFETIME
    (``exclude``: one Put's own)."""
    live: set[str] = set()
    for put_id, objects in _intents_by_put(backend).items():
        if put_id == exclude or _expired(objects, now):
            continue
        for info in objects:
            if not info.key.endswith(f"/{ALIVE_NAME}"):
                live |= decode_keys(backend.get(info.key) or b"")
    return live


def condemned_lists(
    backend: ObjectBackend, now: float
) -> Iterator[tuple[ObjectInfo, frozenset[str]]]:
    """Each condemned list younger than MARKER_LIFETIME, with the keys it condemns."""
    for info in backend.objects(CONDEMNED_PREFIX):
        if now - info.modified >= MARKER_LIFETIME:
            continue  # its deleter died: it deletes nothing any more
        data = backend.get(info.key)
        if data is None:
            continue  # its deleter just finished
        if data:
            yield info, decode_keys(data)
            continue
        put_id = info.key.rsplit("/", 1)[-1]
        keys: set[str] = set()
        for name in backend.keys(f"{PENDING_PREFIX}/{put_id}/"):
            keys |= decode_keys(backend.get(name) or b"")
        yield info, frozenset(keys)


def wait_while_condemned(backend: ObjectBackend, keys: frozenset[str], *, clock: Clock) -> None:
    """Return once no condemned list names any of ``keys``; UnavailableError after
    CONDEMNED_WAIT seconds of waiting."""
    deadline = time.monotonic() + CONDEMNED_WAIT
    while True:
        blocking = [
            info.key for info, condemned in condemned_lists(backend, clock()) if keys & condemned
        ]
        if not blocking:
            return
        if time.monotonic() > deadline:
            raise UnavailableError(
                f"{backend.description}: {blocking[0]} is deleting objects this Put needs, for "
                f"more than {CONDEMNED_WAIT:g} s; try again"
            )
        time.sleep(_POLL_SECONDS)


class _Heartbeats:
    """One thread that keeps every open Put's intents alive; it runs only while there are some."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._intents: weakref.WeakSet[Intents] = weakref.WeakSet()
        self._running = False

    def add(self, intents: Intents) -> None:
        with self._lock:
            self._intents.add(intents)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="baostore-intents", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT / 8)
            with self._lock:
                live = [intents for intents in self._intents if intents._open]
                if not live:
                    self._running = False
                    return
            for intents in live:
                try:
                    intents.beat()
                except Exception as error:  # the next beat tries again
                    log.warning("intents of Put %s not kept alive: %s", intents.put_id, error)


_HEARTBEATS = _Heartbeats()
