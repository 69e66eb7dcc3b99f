"""Blob stores: the interface, the chunked store over object storage, its records and fsck."""

from baostore.store.interface import (
    BAO_FORMATS,
    DEFAULT_BAO_SHIFT,
    DIGEST_SIZE,
    BaoFormat,
    BlobStore,
    BlobWriter,
    ChunkMeta,
    InvalidDigestError,
    Stat,
    StatRequest,
    StoreError,
    check_digest,
)

__all__ = [
    "BAO_FORMATS",
    "DEFAULT_BAO_SHIFT",
    "DIGEST_SIZE",
    "BaoFormat",
    "BlobStore",
    "BlobWriter",
    "ChunkMeta",
    "InvalidDigestError",
    "Stat",
    "StatRequest",
    "StoreError",
    "check_digest",
]
