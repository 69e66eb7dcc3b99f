"""The file backend's own writes (durable: file and directory fsynced; atomic) and reads into a
caller's buffer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from baostore.store.interface import StoreError
from baostore.store.objects import file_backend, memory_backend


def test_put_fsyncs_the_object_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    backend = file_backend(tmp_path)
    backend.put("chunks/ab/abcd", b"durable")
    assert len(synced) == 2  # the staging file, then the directory holding the rename
    assert backend.get("chunks/ab/abcd") == b"durable"
    assert list(backend.keys("chunks")) == ["chunks/ab/abcd"]
    assert [p.name for p in (tmp_path / "chunks" / "ab").iterdir()] == ["abcd"]


def test_failed_put_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    backend = file_backend(tmp_path)
    backend.put("chunks/ab/old", b"before")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StoreError, match="put 'chunks/ab/new' failed"):
        backend.put("chunks/ab/new", b"never acknowledged")
    assert backend.get("chunks/ab/new") is None
    assert sorted(p.name for p in (tmp_path / "chunks" / "ab").iterdir()) == ["old"]


def test_put_replaces_atomically(tmp_path: Path) -> None:
    backend = file_backend(tmp_path)
    backend.put("blobs/cd/cdef", b"first")
    backend.put("blobs/cd/cdef", b"second, longer")
    assert backend.get("blobs/cd/cdef") == b"second, longer"
    assert backend.size("blobs/cd/cdef") == len(b"second, longer")


def test_put_recreates_a_directory_removed_behind_its_back(tmp_path: Path) -> None:
    backend = file_backend(tmp_path)
    backend.put("chunks/ef/ef01", b"one")
    shutil.rmtree(tmp_path / "chunks" / "ef")
    backend.put("chunks/ef/ef02", b"two")
    assert backend.get("chunks/ef/ef02") == b"two"
    assert backend.get("chunks/ef/ef01") is None


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_read_into_fills_a_buffer_from_an_offset(tmp_path: Path, kind: str) -> None:
    backend = memory_backend() if kind == "memory" else file_backend(tmp_path)
    backend.put("chunks/ab/abcd", b"0123456789")
    target = bytearray(b"." * 6)
    view = memoryview(target)
    assert backend.read_into("chunks/ab/abcd", 2, view[1:5]) == 4
    assert target == b".2345."
    assert backend.read_into("chunks/ab/abcd", 7, view) == 3  # the object ends first
    assert target == b"78945."
    assert backend.read_into("chunks/ab/abcd", 10, view) == 0
    assert backend.read_into("chunks/ab/none", 0, view) is None
