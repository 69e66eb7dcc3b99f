"""Digests as text: 64 lowercase hex characters (as b3sum prints them), or ``b3:<base64>``."""

from __future__ import annotations

import base64
import string

from baostore.store.interface import DIGEST_SIZE, InvalidDigestError, check_digest

_HEX_DIGITS = frozenset(string.hexdigits)
_B3_PREFIX = "b3:"


def parse_digest(text: str) -> bytes:
    """The 32-byte digest ``text`` names: 64 hex characters or ``b3:`` + base64 (std or URL-safe,
    padding optional). InvalidDigestError with the reason otherwise."""
    value = text.strip()
    if value.startswith(_B3_PREFIX):
        return _parse_base64(text, value[len(_B3_PREFIX) :])
    if len(value) == 2 * DIGEST_SIZE and _HEX_DIGITS.issuperset(value):
        return bytes.fromhex(value)
    if _HEX_DIGITS.issuperset(value) and value:
        raise InvalidDigestError(
            f"not a digest: {text!r} has {len(value)} hex characters, expected {2 * DIGEST_SIZE}"
        )
    raise InvalidDigestError(
        f"not a digest: {text!r} (expected {2 * DIGEST_SIZE} hex characters or b3:<base64>)"
    )


def format_digest(digest: bytes) -> str:
    """``digest`` as 64 lowercase hex characters."""
    return check_digest(digest).hex()


def _parse_base64(text: str, encoded: str) -> bytes:
    padded = encoded + "=" * (-len(encoded) % 4)
    alphabet_fixed = padded.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(alphabet_fixed, validate=True)
    except ValueError:  # binascii.Error, or a plain ValueError for non-ASCII text
        raise InvalidDigestError(f"not a digest: {text!r} is not valid base64 after b3:") from None
    if len(raw) != DIGEST_SIZE:
        raise InvalidDigestError(
            f"not a digest: {text!r} decodes to {len(raw)} bytes, expected {DIGEST_SIZE}"
        )
    return raw
