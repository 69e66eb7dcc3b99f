"""A store that hands every call to another one: the base of wrappers that change one thing."""

from __future__ import annotations

from collections.abc import Iterator

from baostore.store.interface import (
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    ChunkMeta,
    Stat,
    StatRequest,
)


class ForwardingStore(BlobStore):
    """Forwards everything to ``inner``; subclasses override what they change. Not ``trusted``
    (whatever inner is): a wrapper changes answers, and only it can say its own are true."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    def has(self, digest: bytes) -> bool:
        return self.inner.has(digest)

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        stat = self.inner.stat_request(digest, request)
        return None if stat is None else self.adjust_stat(digest, stat)

    def adjust_stat(self, digest: bytes, stat: Stat) -> Stat:
        """What ``stat`` answers for a blob ``inner`` has: its answer, unless overridden."""
        return stat

    def open_read(self, digest: bytes) -> BlobReader | None:
        return self.inner.open_read(digest)

    def open_write(self) -> BlobWriter:
        return self.inner.open_write()

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        return self.inner.read_raw(digest)

    def chunks(self, digest: bytes) -> tuple[ChunkMeta, ...] | None:
        return self.inner.chunks(digest)

    def list_blobs(self) -> Iterator[BlobEntry]:
        return self.inner.list_blobs()

    def remove(self, digest: bytes) -> bool:
        return self.inner.remove(digest)

    def close(self) -> None:
        self.inner.close()
