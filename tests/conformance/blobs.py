"""Blobs the conformance suite stores: deterministic, so failures reproduce."""

from __future__ import annotations

import random

# Several chunks at the suite's chunk sizes, and 3 groups even at shift 10 (1 MiB groups).
LARGE_SIZE = 3 * (1 << 20) + 12_345
LARGE = random.Random(20261125).randbytes(LARGE_SIZE)
MEDIUM = random.Random(7).randbytes(100_000)

# The two digests published with the protocol (issue 3); everything else is computed.
PAIR = b"\x00\x01"
PAIR_DIGEST_HEX = "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63"
RANGE_255 = bytes(range(255)) * 4096
RANGE_255_DIGEST_HEX = "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2"


def edited(data: bytes) -> bytes:
    """``data`` with an insertion and a deletion: most of its chunks survive the edit."""
    third = len(data) // 3
    return data[:third] + b"inserted bytes" + data[third : 2 * third] + data[2 * third + 5000 :]
