"""Format 2 on a real S3 server (SeaweedFS): a blob's parts streamed into objects of their own
(a multipart upload once a part outgrows one upload part), read back by byte range, and gone
after an aborted Put."""

from __future__ import annotations

import os

import pytest
from baostore import bao
from baostore.open import open_store
from baostore.store import objects
from baostore.store.chunked import ChunkedStore
from baostore.store.fsck import check_store
from baostore.store.interface import ByteRange
from baostore.store.record import PartsRecord

from tests.support.seaweed import SeaweedS3, seaweed, unique_prefix

__all__ = ["seaweed"]  # the session fixture


def test_parts_stream_into_s3_objects_read_by_range(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3's smallest upload part: a 6 MiB bao part goes up in two parts of a multipart upload.
    monkeypatch.setattr(objects, "STREAM_PART_SIZE", 5 << 20)
    store = open_store(seaweed.url(unique_prefix("parts")) + "&bao_shift=0")
    assert isinstance(store, ChunkedStore)
    blob = os.urandom(96 << 20)
    digest = store.put(blob)
    record = store.read_record(digest)
    assert isinstance(record, PartsRecord)
    assert record.parts[0].inline is None and record.parts[0].length > 5 << 20
    for start in (0, 50_000_000, len(blob) - 1):
        stat = store.stat(digest, bao_shift=0, range=ByteRange(start, start + 1))
        assert stat is not None and stat.window is not None
        first, end = stat.window
        verifier = bao.Verifier.from_proof(digest, len(blob), stat.bao, 0, "pre_order", first, end)
        assert verifier.update(blob[first:end]) + verifier.finalize() == blob[first:end]
    assert not check_store(store).corrupt


def test_an_aborted_put_leaves_no_part_objects(seaweed: SeaweedS3) -> None:
    store = open_store(seaweed.url(unique_prefix("aborted")) + "&bao_shift=0")
    assert isinstance(store, ChunkedStore)
    writer = store.open_write()
    writer.write(os.urandom(16 << 20))
    writer.abort()
    assert list(store.part_keys()) == []
