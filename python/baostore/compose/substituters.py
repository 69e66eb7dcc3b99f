"""Substituters: an ordered list of untrusted stores, tried in turn, with verified failover.

``has`` and ``stat`` answer from the first member that has the blob. ``open_read`` verifies every
byte (baostore.verify) and moves on to the next member when one lacks the blob, fails
(StoreError, a timeout of its own client) or serves data that does not verify — mid-stream too:
the next member takes over at the offset already handed on, and chunks that verified before the
failure come from the read's chunk cache instead of being fetched again. Each failure is logged
as a warning and counted per member in ``failures``. A stall counts as a failure once the
member's own client gives up on it: a read that moves nothing for ``idle_timeout`` seconds, or
less than ``min_rate`` (a gRPC store's minimum rate, ``min_rate =`` in a config file: a member
dripping a byte now and then is as failed as a silent one). This store adds no deadline of its
own.

A blob is "absent" only when every member says so; when a member that might hold it failed, the
answer is a StoreError naming each member's failure. Writes go to the first member.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from typing_extensions import Buffer

from baostore import metrics
from baostore.compose.recent import RecentChunks
from baostore.errors import InvalidRequestError, UnavailableError, VerificationError
from baostore.store.interface import (
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    Readable,
    ReadStats,
    Stat,
    StatRequest,
    StoreError,
    VerifiedBlobReader,
    VerifiedOpener,
    check_digest,
    list_each_once,
    read_pieces,
    remove_from_each,
)
from baostore.store.seekable import ReadBasedReader, seek_target
from baostore.verify import ReadOptions, VerifiedReads

log = logging.getLogger(__name__)

# What a failing member may raise: its own StoreError (unreachable, stalled, corrupt data as
# VerificationError) or an OS-level error such as a TimeoutError.
MEMBER_ERRORS = (StoreError, OSError)

T = TypeVar("T")


class SubstitutersStore(BlobStore):
    """Ordered ``members`` (named by the mapping's keys, or by position and repr for a sequence).

    ``options`` sets the bao shift/format and parallelism of verified reads. ``failures`` counts,
    per member name, every operation that member failed.
    """

    def __init__(
        self,
        members: Mapping[str, BlobStore] | Sequence[BlobStore],
        *,
        options: ReadOptions | None = None,
    ) -> None:
        if isinstance(members, Mapping):
            named = list(members.items())
        else:
            named = [(f"#{index} {store!r}", store) for index, store in enumerate(members)]
        if not named:
            raise ValueError("a substituters store needs at least one member")
        self.members: tuple[tuple[str, BlobStore], ...] = tuple(named)
        self.options = options or ReadOptions()
        self.failures: dict[str, int] = {name: 0 for name, _ in named}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SubstitutersStore([{', '.join(name for name, _ in self.members)}])"

    # -- reporting ------------------------------------------------------------------------

    def report_failure(self, name: str, digest: bytes, error: BaseException) -> None:
        """Count and log a member's failure on ``digest``."""
        with self._lock:
            self.failures[name] += 1
        if isinstance(error, VerificationError):
            metrics.far_failed_verification()
        log.warning("substituter %s failed on blob %s: %s", name, digest.hex(), error)

    # -- BlobStore ------------------------------------------------------------------------

    def has(self, digest: bytes) -> bool:
        return self._first(digest, lambda member: True if member.has(digest) else None) is True

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        return self._first(digest, lambda member: member.stat_request(digest, request))

    @property
    def trusted(self) -> bool:
        """Every byte it hands on was verified against the digest (its members are not trusted)."""
        return True

    def open_read(self, digest: bytes) -> BlobReader | None:
        return self.open_verified_read(digest)

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """Verified pieces (this store is a client of untrusted members, never a raw relay)."""
        reader = self.open_verified_read(digest)
        return None if reader is None else read_pieces(reader)

    def open_verified_read(
        self,
        digest: bytes,
        options: ReadOptions | None = None,
        *,
        cache: BlobStore | None = None,
    ) -> FailoverReader | None:
        """A verified, failing-over reader, or None if every member lacks the blob.

        ``cache`` (a trusted store) serves chunks it holds and receives every chunk that verifies;
        without one, the read keeps its recently verified chunks in memory for failover.
        """
        return self.open_verified(digest, VerifiedReads(options or self.options, cache))

    def open_verified(self, digest: bytes, opener: VerifiedOpener) -> FailoverReader | None:
        """Read verified from one member after another (see FailoverReader); the members share
        ``opener``'s chunk cache, or recently verified chunks kept in memory without one."""
        digest = check_digest(digest)
        if opener.cache is None:
            opener = opener.with_cache(RecentChunks())
        reader = FailoverReader(self, digest, opener)
        return reader if reader.start() else None

    def open_write(self) -> BlobWriter:
        return self.members[0][1].open_write()

    def put(self, data: Buffer | Readable) -> bytes:
        return self.members[0][1].put(data)

    def list_blobs(self) -> Iterator[BlobEntry]:
        """The blobs of every member, each once."""
        return list_each_once(member for _, member in self.members)

    def remove(self, digest: bytes) -> bool:
        """Remove the blob from every member, in order (a remote one refuses: UnsupportedError)."""
        return remove_from_each((member for _, member in self.members), digest)

    def close(self) -> None:
        for _, member in self.members:
            member.close()

    # -- helpers --------------------------------------------------------------------------

    def _first(self, digest: bytes, ask: Callable[[BlobStore], T | None]) -> T | None:
        digest = check_digest(digest)
        outcomes: list[str] = []
        failed = False
        for name, member in self.members:
            try:
                answer = ask(member)
            except InvalidRequestError:
                raise  # the request is wrong (a range past the blob's end): no member will do
            except MEMBER_ERRORS as error:
                self.report_failure(name, digest, error)
                outcomes.append(f"{name}: {error}")
                failed = True
                continue
            if answer is not None:
                return answer
            outcomes.append(f"{name}: not found")
        if failed:
            raise unavailable_error(digest, outcomes)
        return None


def unavailable_error(digest: bytes, outcomes: list[str]) -> UnavailableError:
    return UnavailableError(
        f"blob {digest.hex()} is unavailable: no substituter could serve it ("
        + "; ".join(outcomes)
        + ")"
    )


class FailoverReader(ReadBasedReader):
    """A seekable, verified reader over the members of a SubstitutersStore, one at a time.

    ``size`` is the blob's verified size. ``member_stats`` lists, for each member used in turn,
    its name and its read's statistics (``stats`` sums them).
    """

    def __init__(self, store: SubstitutersStore, digest: bytes, opener: VerifiedOpener) -> None:
        super().__init__()
        self.digest = digest
        self.size = 0
        self.member_stats: list[tuple[str, ReadStats]] = []
        self._store = store
        self._opener = opener
        self._position = 0
        self._index = -1
        self._current: VerifiedBlobReader | None = None
        self._outcomes: list[str] = []
        self._member_failed = False

    def start(self) -> bool:
        """Open the first member that has the blob; False if every member lacks it."""
        if self._open_from(0):
            assert self._current is not None
            self.size = self._current.size
            return True
        if self._member_failed:
            raise unavailable_error(self.digest, self._outcomes)
        return False

    @property
    def stats(self) -> ReadStats:
        return functools.reduce(
            ReadStats.combine, (stats for _, stats in self.member_stats), ReadStats()
        )

    @property
    def member(self) -> str | None:
        """The name of the member being read from (None once every member failed)."""
        return self._store.members[self._index][0] if self._current is not None else None

    # -- io.RawIOBase ---------------------------------------------------------------------

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = seek_target(offset, whence, self._position, self.size)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        while True:
            reader = self._current
            if reader is None:
                raise unavailable_error(self.digest, self._outcomes)
            try:
                if reader.tell() != self._position:
                    reader.seek(self._position)
                data = reader.read(size)
            except MEMBER_ERRORS as error:
                self._fail_over(error)
                continue
            self._position += len(data)
            return data

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()

    # -- failover -------------------------------------------------------------------------

    def _fail_over(self, error: BaseException) -> None:
        assert self._current is not None
        name = self._store.members[self._index][0]
        self._failed(name, error)
        self._current.close()
        self._current = None
        self._open_from(self._index + 1)

    def _open_from(self, first: int) -> bool:
        members = self._store.members
        for index in range(first, len(members)):
            name, member = members[index]
            try:
                reader = self._opener.open(member, self.digest)
            except MEMBER_ERRORS as error:
                self._failed(name, error)
                continue
            if reader is None:
                self._outcomes.append(f"{name}: not found")
                continue
            self._index = index
            self._current = reader
            self.member_stats.append((name, reader.stats))
            return True
        return False

    def _failed(self, name: str, error: BaseException) -> None:
        self._store.report_failure(name, self.digest, error)
        self._outcomes.append(f"{name}: {error}")
        self._member_failed = True
