"""The s3:// store against a real S3 server (SeaweedFS): URLs, prefixes, credentials, and several
stateless servers over one bucket."""

from __future__ import annotations

import random

import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import StoreError
from baostore.verify import open_verified

from tests.support.grpc_server import serve_in_thread
from tests.support.seaweed import SeaweedS3, seaweed, unique_prefix

__all__ = ["seaweed"]  # the session fixture

BLOB = random.Random(404).randbytes(2_500_000)


def test_url_opens_a_chunked_store_under_the_prefix(seaweed: SeaweedS3) -> None:
    prefix = unique_prefix("url/nested")
    store = open_store(seaweed.url(prefix) + "&bao_shift=6")
    assert isinstance(store, ChunkedStore)
    assert store.bao_shift == 6
    assert store.backend.description == f"s3://{seaweed.bucket}/{prefix}"
    digest = store.put(BLOB)
    keys = list(store.backend.keys("blobs"))
    assert keys == [f"blobs/{digest.hex()[:2]}/{digest.hex()}"]
    stat = store.stat(digest)
    assert stat is not None and stat.bao_shift == 6 and len(stat.chunks) > 1
    # The same URL opened again (another process, another server) sees the same blobs.
    again = open_store(seaweed.url(prefix))
    reader = again.open_read(digest)
    assert reader is not None and reader.read() == BLOB


def test_prefixes_keep_stores_apart(seaweed: SeaweedS3) -> None:
    first = open_store(seaweed.url(unique_prefix("apart")))
    second = open_store(seaweed.url(unique_prefix("apart")))
    digest = first.put(b"only in the first")
    assert first.has(digest) and not second.has(digest)


def test_wrong_credentials_are_a_store_error(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    store = open_store(seaweed.url(unique_prefix("denied")))
    with pytest.raises(StoreError, match=rf"s3://{seaweed.bucket}/denied-.*head.*failed"):
        store.has(bao.hash(b"anything"))


def test_two_servers_over_one_bucket_serve_each_others_blobs(seaweed: SeaweedS3) -> None:
    url = seaweed.url(unique_prefix("shared"))
    other = random.Random(405).randbytes(700_000)
    with (
        serve_in_thread(open_store(url)) as first_url,
        serve_in_thread(open_store(url)) as second_url,
        GrpcBlobStore.from_url(first_url) as first,
        GrpcBlobStore.from_url(second_url) as second,
    ):
        through_first = first.put(BLOB)
        through_second = second.put(other)
        for server, digest, data in (
            (second, through_first, BLOB),
            (first, through_second, other),
        ):
            assert server.has(digest)
            reader = open_verified(server, digest)
            assert reader is not None
            with reader:
                assert reader.read() == data
            assert reader.stats.chunks_fetched >= 1
        # Both servers wrote the shared chunks and records once: the bucket holds one copy.
        counts = open_store(url)
        assert isinstance(counts, ChunkedStore)
        assert counts.object_counts().records == 2
