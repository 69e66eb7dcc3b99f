"""The gRPC client checks the digest a server answers Put with against the data it sent."""

from __future__ import annotations

import pytest
from baostore import bao
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.forwarding import ForwardingStore
from baostore.store.interface import BlobWriter, StoreError
from baostore.store.objects import memory_backend
from typing_extensions import Buffer

from tests.support.grpc_server import serve_in_thread


class _WrongDigestWriter(BlobWriter):
    def __init__(self, inner: BlobWriter) -> None:
        self._inner = inner

    def write(self, data: Buffer) -> int:
        return self._inner.write(data)

    def close(self) -> bytes:
        return bao.hash(self._inner.close())  # some other blob's digest

    def abort(self) -> None:
        self._inner.abort()


class _LyingPutStore(ForwardingStore):
    def open_write(self) -> BlobWriter:
        return _WrongDigestWriter(self.inner.open_write())


def test_put_with_a_lying_digest_is_refused() -> None:
    data = bytes(range(256)) * 3000
    liar = _LyingPutStore(ChunkedStore(memory_backend()))
    with (
        serve_in_thread(liar) as url,
        open_store(url) as remote,
        pytest.raises(StoreError, match="hash to"),
    ):
        remote.put(data)


def test_put_with_the_true_digest_is_accepted() -> None:
    data = bytes(range(256)) * 3000
    honest = ForwardingStore(ChunkedStore(memory_backend()))
    with serve_in_thread(honest) as url, open_store(url) as remote:
        assert remote.put(data) == bao.hash(data)
