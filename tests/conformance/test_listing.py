"""Listing and removing blobs on every kind of store: stores that hold their blobs list and
remove them; a gRPC client store refuses both, saying the protocol has no such call."""

from __future__ import annotations

import pytest
from baostore import bao
from baostore.errors import UnsupportedError
from baostore.store.interface import BlobEntry

from tests.conformance.blobs import LARGE, MEDIUM, PAIR
from tests.conformance.conftest import STORE_KINDS, StoreUnderTest

# A gRPC client store is a remote: the BlobService protocol can neither list nor remove.
REMOTE_KINDS = ("grpc-memory", "grpc-file")
HOLDING_KINDS = tuple(kind for kind in STORE_KINDS if kind not in REMOTE_KINDS)
holding_stores = pytest.mark.parametrize("subject", HOLDING_KINDS, indirect=True)
remote_stores = pytest.mark.parametrize("subject", REMOTE_KINDS, indirect=True)


def chunk_count(subject: StoreUnderTest, data: bytes) -> int:
    stat = subject.store.stat(bao.hash(data), send_bao=False)
    assert stat is not None
    return len(stat.chunks) or (1 if data else 0)


def listed(subject: StoreUnderTest) -> dict[bytes, BlobEntry]:
    entries = list(subject.store.list_blobs())
    by_digest = {entry.digest: entry for entry in entries}
    assert len(by_digest) == len(entries), "a blob was listed twice"
    return by_digest


@holding_stores
def test_every_blob_is_listed_with_its_size_and_chunk_count(subject: StoreUnderTest) -> None:
    blobs = [b"", PAIR, MEDIUM, LARGE]
    for data in blobs:
        subject.store.put(data)
    entries = listed(subject)
    assert set(entries) == {bao.hash(data) for data in blobs}
    for data in blobs:
        entry = entries[bao.hash(data)]
        assert (entry.size, entry.chunk_count) == (len(data), chunk_count(subject, data))
    assert entries[bao.hash(LARGE)].chunk_count > 1


@holding_stores
def test_chunks_kept_on_their_own_are_not_blobs(subject: StoreUnderTest) -> None:
    subject.backing.put_chunk(b"a chunk of a chunk cache")
    assert listed(subject) == {}


@holding_stores
def test_removed_blobs_are_gone_and_the_others_stay(subject: StoreUnderTest) -> None:
    large, medium = subject.store.put(LARGE), subject.store.put(MEDIUM)
    assert subject.store.remove(large) is True
    assert set(listed(subject)) == {medium}
    # Its record is gone: a blob of several chunks is not found, in any way.
    assert subject.store.has(large) is False
    assert subject.store.stat(large) is None
    assert subject.store.open_read(large) is None
    assert subject.store.remove(large) is False
    reader = subject.store.open_read(medium)
    assert reader is not None
    with reader:
        assert reader.read() == MEDIUM
    # Put again, it is back.
    assert subject.store.put(LARGE) == large
    assert set(listed(subject)) == {large, medium}


@holding_stores
def test_removing_a_blob_never_stored(subject: StoreUnderTest) -> None:
    assert subject.store.remove(bao.hash(b"never stored")) is False


@remote_stores
def test_a_remote_store_refuses_to_list_or_remove(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    with pytest.raises(UnsupportedError, match="protocol has no call that lists"):
        list(subject.store.list_blobs())
    with pytest.raises(UnsupportedError, match="protocol has no call that removes"):
        subject.store.remove(digest)
    assert subject.store.has(digest)
    # The server's own store lists and removes it.
    assert [entry.digest for entry in subject.backing.list_blobs()] == [digest]
    assert subject.backing.remove(digest) is True
    assert subject.store.has(digest) is False
