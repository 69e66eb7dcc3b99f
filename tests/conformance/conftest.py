"""The store under test, for every kind of store the conformance suite covers.

Each kind is a ChunkedStore with small chunks (so a few MiB exercise the multi-chunk paths), used
directly, through a loopback gRPC server, or composed: "cache" puts an empty near tier in front of
it (writes go through to it, reads are verified read-throughs, then near hits), "substituters" lists
it first of two members (writes go to the first); "s3" keeps it in a real SeaweedFS bucket
(tests/support/seaweed.py). ``backing`` is that ChunkedStore, whose objects
the dedup tests count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from baostore.compose.cache import CacheStore
from baostore.compose.substituters import SubstitutersStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.interface import BlobStore
from baostore.store.objects import file_backend, memory_backend

from tests.support.seaweed import SeaweedS3, seaweed, unique_prefix

__all__ = ["seaweed"]  # the session fixture, imported so that the "s3" kind can request it

STORE_KINDS = ("memory", "file", "grpc-memory", "grpc-file", "cache", "substituters", "s3")
TEST_CHUNK_SIZES = ChunkSizes(min=16 << 10, avg=64 << 10, max=256 << 10)


@dataclass(frozen=True)
class StoreUnderTest:
    kind: str
    store: BlobStore
    backing: ChunkedStore


def make_backing(kind: str, directory: Path) -> ChunkedStore:
    backend = memory_backend() if kind.endswith("memory") else file_backend(directory / "store")
    return ChunkedStore(backend, chunk_sizes=TEST_CHUNK_SIZES)


@pytest.fixture(params=STORE_KINDS)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    kind: str = request.param
    if kind == "s3":  # a real SeaweedFS server, one per session; a fresh prefix per test
        s3: SeaweedS3 = request.getfixturevalue("seaweed")
        backend = s3.backend(unique_prefix("conformance"))
        backing = ChunkedStore(backend, chunk_sizes=TEST_CHUNK_SIZES)
    else:
        backing = make_backing(kind, tmp_path)
    if kind == "cache":
        near = ChunkedStore(memory_backend(), chunk_sizes=TEST_CHUNK_SIZES)
        yield StoreUnderTest(kind, CacheStore(near, backing, write_to="far"), backing)
        return
    if kind == "substituters":
        other = ChunkedStore(memory_backend(), chunk_sizes=TEST_CHUNK_SIZES)
        yield StoreUnderTest(kind, SubstitutersStore({"backing": backing, "other": other}), backing)
        return
    if not kind.startswith("grpc-"):  # memory, file, s3
        yield StoreUnderTest(kind, backing, backing)
        return
    from tests.support.grpc_server import serve_in_thread

    with serve_in_thread(backing) as url, open_store(url) as remote:
        yield StoreUnderTest(kind, remote, backing)
