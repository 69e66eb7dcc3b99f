"""An unclosed reader is finalized when it is dropped or collected, in whatever thread that
happens, perhaps one inside threading's own locks. Its finalizer must neither join a thread nor
wait for one: that deadlocked the suite now and then (a thread starting up collected a reader
whose close() joined the cache writers)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any

import pytest
from baostore.verify import open_verified
from baostore.verify import source as chunk_source

from tests.adversarial.conftest import small_chunk_store

BLOB = os.urandom(500_000)


def test_finalizing_an_unclosed_reader_never_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    source, cache = small_chunk_store(), small_chunk_store()
    digest = source.put(BLOB)
    for start in (0, 100_000):  # a whole-blob Read, and a Read per chunk after a seek
        reader = open_verified(source, digest, cache=cache)
        assert reader is not None
        reader.seek(start)
        assert reader.read(300_000) == BLOB[start : start + 300_000]
        del reader  # never closed: left to garbage collection

    blocking: list[str] = []

    def refuse(name: str) -> Any:
        def blocked(*args: object, **kwargs: object) -> None:
            blocking.append(name)
            raise AssertionError(f"a finalizer called {name}")

        return blocked

    unraisable: list[object] = []
    monkeypatch.setattr(threading.Thread, "join", refuse("Thread.join"))
    monkeypatch.setattr(chunk_source, "wait", refuse("wait"))
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    gc.collect()
    monkeypatch.undo()
    assert blocking == [] and unraisable == []
