"""Opening stores by URL: every backend, its options, and clear errors for everything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from baostore.grpc.rate import MinimumRate
from baostore.open import default_store_url, open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import BlobStore, StoreError
from baostore.store.objects import memory_backend


def test_memory_store() -> None:
    store = open_store("memory://")
    assert isinstance(store, ChunkedStore)
    digest = store.put(b"hello")
    assert store.has(digest)
    assert open_store("memory://").has(digest) is False  # each opening is its own store


def test_file_store_is_created_and_persists(tmp_path: Path) -> None:
    directory = tmp_path / "a b" / "store"
    url = directory.as_uri()  # percent-encodes the space
    digest = open_store(url).put(b"persisted")
    assert directory.is_dir()
    assert open_store(url).has(digest)


def test_store_option_bao_shift(tmp_path: Path) -> None:
    store = open_store("memory://?bao_shift=2")
    assert isinstance(store, ChunkedStore)
    assert store.bao_shift == 2
    store = open_store(f"{tmp_path.as_uri()}?bao_shift=0")
    assert isinstance(store, ChunkedStore)
    assert store.bao_shift == 0


def test_s3_store_url_is_parsed_without_contacting_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    store = open_store("s3://my-bucket/some/prefix?endpoint=http://127.0.0.1:9&region=eu-west-1")
    assert isinstance(store, ChunkedStore)
    assert store.backend.description == "s3://my-bucket/some/prefix"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memory://host", "no host or path"),
        ("memory:///path", "no host or path"),
        ("memory://?color=blue", "unknown option"),
        ("memory://?bao_shift=x", "bao_shift must be in 0..32"),
        ("memory://?bao_shift=-1", "bao_shift must be in 0..32"),
        ("memory://?bao_shift=40", "0..32"),
        ("memory://?bao_shift=1&bao_shift=2", "given twice"),
        ("memory://?bao_shift=", "no value"),
        ("memory://#frag", "fragment"),
        ("file://relative/path", "no host"),
        ("file:relative", "absolute path"),
        ("file:///tmp/x?endpoint=http://a", "unknown option"),
        ("file://user@/tmp/x", "credentials"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://Bad_Bucket/", "bucket name"),
        ("s3://bucket:99/", "no port"),
        ("s3://bucket/?endpoint=ftp://a", "http"),
        ("s3://bucket/?region=", "no value"),
        ("s3://bucket/?token=abc", "unknown option"),
        ("http://example.com", "grpc\\+http://"),
        ("nonsense", "scheme must be one of"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_refused_file_url_creates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "never"
    with pytest.raises(ValueError):
        open_store(f"{directory.as_uri()}?unknown=1")
    assert not directory.exists()


@pytest.mark.parametrize(
    "url", ["grpc+http://127.0.0.1:1", "grpc+https://example.com:443", "grpc+unix:///tmp/sock"]
)
def test_grpc_urls_go_to_the_grpc_client(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from baostore.grpc import client

    opened: list[tuple[str, float | None, float | None, MinimumRate | None]] = []
    remote = ChunkedStore(memory_backend())

    def fake_from_url(
        cls: Any,
        given: str,
        *,
        timeout: float | None,
        idle_timeout: float | None,
        min_rate: MinimumRate | None,
    ) -> BlobStore:
        opened.append((given, timeout, idle_timeout, min_rate))
        return remote

    monkeypatch.setattr(client.GrpcBlobStore, "from_url", classmethod(fake_from_url))
    rate = MinimumRate(1000, 5.0)
    assert open_store(url) is remote
    assert open_store(url, timeout=2.0) is remote
    assert open_store(url, min_rate=rate) is remote
    assert opened == [(url, None, None, None), (url, 2.0, None, None), (url, None, None, rate)]


def test_timeouts_are_for_grpc_stores_only() -> None:
    with pytest.raises(ValueError, match="apply to grpc"):
        open_store("memory://", idle_timeout=1.0)


def test_default_store_url_is_a_file_url_under_the_user_data_dir() -> None:
    url = default_store_url()
    assert url.startswith("file:///")
    assert url.endswith("/store")
    assert "baostore" in url


def test_file_store_over_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError, match="cannot open file store"):
        open_store(blocker.as_uri())
