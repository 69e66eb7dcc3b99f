"""The public Python names: listed in ``__all__``, each importable, nothing public left out, the
design's contract among them; digests convert both ways; a Stat's repr stays short."""

from __future__ import annotations

import types

import baostore
import pytest
from baostore import bao
from baostore.errors import InvalidDigestError
from hypothesis import given
from hypothesis import strategies as st

# What outside code calls (the design document's contract) and what it catches.
CONTRACT = {
    "open_store",
    "BlobStore",
    "Stat",
    "ChunkMeta",
    "parse_digest",
    "format_digest",
    "StoreError",
    "NotFoundError",
    "VerificationError",
}


def test_every_name_in_all_is_there_once() -> None:
    names = baostore.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(baostore, name) is not None, name


def test_the_contract_is_public() -> None:
    assert set(baostore.__all__) >= CONTRACT


def test_nothing_public_is_left_out_of_all() -> None:
    # Submodules become attributes once imported; typing helpers are not the package's own.
    public = {
        name
        for name, value in vars(baostore).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations", "TYPE_CHECKING", "Any"} <= set(baostore.__all__)
    assert set(baostore.__all__) <= set(dir(baostore))


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from baostore import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(baostore.__all__)


def test_open_store_is_the_opener() -> None:
    from baostore.open import open_store

    assert baostore.open_store is open_store


@given(st.binary(min_size=32, max_size=32))
def test_digests_convert_both_ways(digest: bytes) -> None:
    text = baostore.format_digest(digest)
    assert len(text) == 64 and text == text.lower() == digest.hex()
    assert baostore.parse_digest(text) == digest
    assert baostore.parse_digest(text.upper()) == digest


@pytest.mark.parametrize("digest", [b"", b"\x00" * 31, b"\x00" * 33])
def test_format_digest_refuses_what_is_not_a_digest(digest: bytes) -> None:
    with pytest.raises(InvalidDigestError, match="32 bytes"):
        baostore.format_digest(digest)


def test_a_stat_repr_is_short_whatever_it_holds() -> None:
    data = bytes(range(256)) * 4096 * 4  # 4 MiB: a bao of 16 KiB at shift 0
    _, outboard = bao.outboard(data, 0)
    chunks = tuple(baostore.ChunkMeta(bytes(32), 1024) for _ in range(4096))
    stat = baostore.Stat(size=len(data), chunks=chunks, bao=outboard, bao_shift=0, inline=data)
    text = repr(stat)
    assert len(text) < 200, text
    assert f"size={len(data)}" in text and "bao_shift=0" in text
    assert f"bao=<{len(outboard)} bytes>" in text and "chunks=<4096 items>" in text
    assert f"inline=<{len(data)} bytes>" in text


def test_the_readme_example_runs() -> None:
    with baostore.open_store("memory://") as store:
        digest = store.put(b"hello")
        assert baostore.format_digest(digest) == bao.hash(b"hello").hex()
        assert store.open_read(baostore.parse_digest("07" * 32)) is None
