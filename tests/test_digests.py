from __future__ import annotations

import base64

import pytest
from baostore.digests import format_digest, parse_digest
from baostore.store.interface import InvalidDigestError

# blake3(b"\x00\x01"), from the conformance data of issue 3.
DIGEST_HEX = "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63"
DIGEST = bytes.fromhex(DIGEST_HEX)


def test_hex_round_trip() -> None:
    assert parse_digest(DIGEST_HEX) == DIGEST
    assert format_digest(DIGEST) == DIGEST_HEX


def test_upper_case_hex_and_surrounding_space_are_accepted() -> None:
    assert parse_digest(f"  {DIGEST_HEX.upper()}\n") == DIGEST


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(DIGEST).decode(),
        base64.b64encode(DIGEST).decode().rstrip("="),
        base64.urlsafe_b64encode(DIGEST).decode(),
    ],
)
def test_b3_base64_forms(encoded: str) -> None:
    assert parse_digest(f"b3:{encoded}") == DIGEST


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (DIGEST_HEX[:-2], "62 hex characters"),
        (DIGEST_HEX + "00", "66 hex characters"),
        ("zz" * 32, "expected 64 hex characters or b3:<base64>"),
        ("", "expected 64 hex characters"),
        ("b3:" + base64.b64encode(DIGEST[:31]).decode(), "decodes to 31 bytes"),
        ("b3:not base64!", "not valid base64"),
        ("sha256:" + DIGEST_HEX, "expected 64 hex characters or b3:<base64>"),
    ],
)
def test_bad_digests_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidDigestError, match=reason):
        parse_digest(text)


def test_format_rejects_wrong_length() -> None:
    with pytest.raises(InvalidDigestError):
        format_digest(DIGEST[:31])
