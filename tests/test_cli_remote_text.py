"""What a remote says reaches the terminal escaped: a server's error text cannot write escape
sequences (ESC, BEL, CR...) to the user's screen through ``get`` or ``stat``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import EXIT_ERROR
from baostore.errors import printable
from baostore.grpc.client import GrpcBlobStore
from baostore.store.interface import StoreError
from hypothesis import given
from hypothesis import strategies as st

from tests.support.hostile_server import honest_stat, hostile_server
from tests.support.stores import small_chunk_memory_store

# A window title, a bell, a carriage return over our own line, a screen clear, a bidi override.
HOSTILE = "\x1b]0;owned\x07\rbaostore: all good\x1b[2J\u202e\n"
BLOB = os.urandom(200_000)


def _refuse(request: object, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.INTERNAL, HOSTILE)


def _read_refusing(request: object, context: grpc.ServicerContext) -> Iterator[object]:
    context.abort(grpc.StatusCode.INTERNAL, HOSTILE)
    yield from ()


def assert_escaped(text: str) -> None:
    """No control character in ``text`` but the newlines ending our own lines."""
    lines = text.removesuffix("\n").split("\n")
    assert all(line.isprintable() and line.startswith("baostore: ") for line in lines), repr(text)
    assert "\\x1b]0;owned\\x07\\rbaostore: all good\\x1b[2J\\u202e\\n" in text


@pytest.mark.parametrize("failing", ["Stat", "Read"])
def test_get_escapes_what_a_server_says(
    failing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = small_chunk_memory_store()
    honest.put(BLOB)
    stat = _refuse if failing == "Stat" else honest_stat(honest)
    with hostile_server(stat=stat, read=_read_refusing) as url:
        target = tmp_path / "out.bin"
        argv = ["get", bao.hash(BLOB).hex(), "--store", url, "-o", str(target), "--no-cache"]
        assert main(argv) == EXIT_ERROR
    assert_escaped(capsys.readouterr().err)


def test_stat_escapes_what_a_server_says(capsys: pytest.CaptureFixture[str]) -> None:
    with hostile_server(stat=_refuse) as url:
        assert main(["stat", bao.hash(BLOB).hex(), "--store", url]) == EXIT_ERROR
    assert_escaped(capsys.readouterr().err)


def test_the_client_escapes_error_texts_as_they_arrive() -> None:
    with (
        hostile_server(stat=_refuse) as url,
        GrpcBlobStore.from_url(url) as client,
        pytest.raises(StoreError) as failure,
    ):
        client.stat(bao.hash(BLOB))
    assert_escaped(f"baostore: {failure.value}")


@given(text=st.text())
def test_printable_escapes_exactly_the_unprintable(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert printable(shown) == shown  # escaping twice changes nothing more
    if text.isprintable():
        assert shown == text
    else:
        assert shown != text
