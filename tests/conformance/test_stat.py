"""Stat: the bao at every shift in both formats (checked against the digest), and inline data."""

from __future__ import annotations

import pytest
from baostore import bao
from baostore.store.interface import BAO_FORMATS, BaoFormat

from tests.conformance.blobs import LARGE, LARGE_SIZE, MEDIUM, PAIR
from tests.conformance.conftest import StoreUnderTest

SHIFTS = range(11)


def _verified(digest: bytes, data: bytes, outboard: bytes, shift: int, fmt: BaoFormat) -> bytes:
    verifier = bao.Verifier(digest, len(data), outboard, shift=shift, format=fmt)
    return verifier.update(data) + verifier.finalize()


@pytest.mark.parametrize("bao_format", BAO_FORMATS)
def test_bao_at_every_shift_verifies(subject: StoreUnderTest, bao_format: BaoFormat) -> None:
    digest = subject.store.put(LARGE)
    for shift in SHIFTS:
        stat = subject.store.stat(digest, send_bao=True, bao_shift=shift, bao_format=bao_format)
        assert stat is not None
        assert (stat.size, stat.bao_shift, stat.bao_format) == (LARGE_SIZE, shift, bao_format)
        assert len(stat.bao) == bao.outboard_size(LARGE_SIZE, shift, bao_format) > 0
        assert _verified(digest, LARGE, stat.bao, shift, bao_format) == LARGE
        assert stat.bao == bao.outboard(LARGE, shift, bao_format)[1]


def test_tampered_bao_does_not_verify(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    stat = subject.store.stat(digest, bao_shift=4)
    assert stat is not None
    tampered = bytearray(stat.bao)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(bao.BaoError):
        _verified(digest, LARGE, bytes(tampered), 4, "pre_order")


def test_default_shift_is_the_stores(subject: StoreUnderTest) -> None:
    digest = subject.store.put(LARGE)
    stat = subject.store.stat(digest)
    assert stat is not None
    assert stat.bao_shift == subject.backing.bao_shift
    assert _verified(digest, LARGE, stat.bao, stat.bao_shift, "pre_order") == LARGE


@pytest.mark.parametrize("data", [b"", PAIR, MEDIUM], ids=["empty", "pair", "medium"])
def test_single_group_blobs_have_an_empty_bao(subject: StoreUnderTest, data: bytes) -> None:
    digest = subject.store.put(data)
    stat = subject.store.stat(digest, bao_shift=7, bao_format="leaves")
    assert stat is not None
    assert stat.bao == b""
    assert _verified(digest, data, b"", 7, "leaves") == data


def test_inline_data_up_to_the_limit(subject: StoreUnderTest) -> None:
    digest = subject.store.put(MEDIUM)
    at_limit = subject.store.stat(digest, inline_limit=len(MEDIUM))
    assert at_limit is not None
    assert at_limit.inline == MEDIUM
    below = subject.store.stat(digest, inline_limit=len(MEDIUM) - 1)
    assert below is not None
    assert below.inline is None
    not_asked = subject.store.stat(digest)
    assert not_asked is not None
    assert not_asked.inline is None


def test_inline_tiny_blob(subject: StoreUnderTest) -> None:
    digest = subject.store.put(PAIR)
    stat = subject.store.stat(digest, inline_limit=1024)
    assert stat is not None
    assert stat.inline == PAIR
    assert stat.size == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bao_shift": 33}, "bao_shift must be in 0..32"),
        ({"bao_shift": -1}, "bao_shift must be in 0..32"),
        ({"bao_format": "post_order"}, "bao_format must be one of"),
        ({"inline_limit": -1}, "inline_limit must not be negative"),
    ],
)
def test_bad_stat_options_are_refused_alike(
    subject: StoreUnderTest, options: dict[str, object], message: str
) -> None:
    digest = subject.store.put(PAIR)
    with pytest.raises(ValueError, match=message):
        subject.store.stat(digest, **options)  # type: ignore[arg-type]
