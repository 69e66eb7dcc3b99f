"""baostore: a verified-streaming BLAKE3 blob store.

``open_store(url)`` opens any store by URL; ``baostore.bao`` computes and verifies bao outboards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baostore.store.interface import BlobStore, ChunkMeta, Stat

if TYPE_CHECKING:
    from baostore.open import open_store

__all__ = ["BlobStore", "ChunkMeta", "Stat", "open_store"]


def __getattr__(name: str) -> Any:
    # Imported lazily: opening by URL pulls in every backend, the gRPC client included.
    if name == "open_store":
        from baostore.open import open_store

        return open_store
    raise AttributeError(f"module 'baostore' has no attribute {name!r}")
