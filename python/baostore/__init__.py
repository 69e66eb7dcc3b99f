"""baostore: a verified-streaming BLAKE3 blob store.

``open_store(url)`` opens any store by URL; ``baostore.bao`` computes and verifies bao outboards.
Digests are 32 bytes; ``parse_digest`` reads them as people write them (64 hex characters, or
``b3:<base64>``) and ``format_digest`` writes them as 64 hex characters, as b3sum does::

    import baostore
    with baostore.open_store("file:///srv/blobs") as store:
        digest = store.put(b"hello")
        print(baostore.format_digest(digest))
        reader = store.open_read(baostore.parse_digest("07" * 32))  # None: no such blob

Every failure of a store is a ``StoreError`` whose ``kind`` says what happened (one subclass per
kind: ``NotFoundError``, ``VerificationError``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baostore.digests import format_digest, parse_digest
from baostore.errors import (
    DataLossError,
    ErrorKind,
    InvalidDigestError,
    InvalidRequestError,
    MissingStoreError,
    NotFoundError,
    StalledError,
    StoreError,
    UnavailableError,
    UnsupportedError,
    VerificationError,
)
from baostore.store.interface import (
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    ChunkMeta,
    Stat,
)

if TYPE_CHECKING:
    from baostore.open import open_store
    from baostore.version import __version__

__all__ = [
    "BlobEntry",
    "BlobReader",
    "BlobStore",
    "BlobWriter",
    "ChunkMeta",
    "DataLossError",
    "ErrorKind",
    "InvalidDigestError",
    "InvalidRequestError",
    "MissingStoreError",
    "NotFoundError",
    "StalledError",
    "Stat",
    "StoreError",
    "UnavailableError",
    "UnsupportedError",
    "VerificationError",
    "__version__",
    "format_digest",
    "open_store",
    "parse_digest",
]


def __getattr__(name: str) -> Any:
    # Imported lazily: opening by URL pulls in every backend, the gRPC client included.
    if name == "open_store":
        from baostore.open import open_store

        return open_store
    if name == "__version__":  # importlib.metadata costs tens of milliseconds at start-up
        from baostore.version import __version__

        return __version__
    raise AttributeError(f"module 'baostore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
