"""Locating and loading the bao test vectors kept outside the project, in ``../shared/vectors``.

``BAOSTORE_VECTORS`` names another directory. Tests that need a file skip (with the reason) when
it is absent: the vectors are never copied into the project.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

VECTORS_ENV = "BAOSTORE_VECTORS"
DEFAULT_VECTORS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "vectors"


def vectors_dir() -> Path:
    """The directory holding the vector files (which may not exist)."""
    override = os.environ.get(VECTORS_ENV)
    return Path(override) if override else DEFAULT_VECTORS_DIR


def load_vectors(file_name: str) -> dict[str, Any]:
    """The parsed JSON vector file, or a pytest skip saying where it was looked for."""
    path = vectors_dir() / file_name
    if not path.is_file():
        pytest.skip(f"bao test vectors not found at {path} (set {VECTORS_ENV} to their directory)")
    vectors: dict[str, Any] = json.loads(path.read_text())
    return vectors


def vector_input(length: int) -> bytes:
    """The vectors' input: a little-endian 4-byte counter starting at 1, cut to ``length``."""
    words = length // 4 + 1
    return struct.pack(f"<{words}I", *range(1, words + 1))[:length]
