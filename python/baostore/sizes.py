"""Byte sizes: the units as constants, and sizes as people write them (``8MiB``, ``1GiB``,
``500KB``, ``1.5MB``, ``4096``), parsed with one meaning everywhere: ``GiB`` (and the short ``G``
of dd and ls) is 2^30, ``GB`` is 10^9."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

# Binary units (KiB, and the short K of dd and ls) and decimal ones (KB), case-insensitive.
UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": KiB,
    "kib": KiB,
    "m": MiB,
    "mib": MiB,
    "g": GiB,
    "gib": GiB,
    "t": TiB,
    "tib": TiB,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """The number of bytes ``text`` names; ValueError with the accepted forms otherwise."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in UNITS:
        raise ValueError(
            f"not a size: {text!r} is not a byte count: use a number with an optional unit "
            "(B, KiB, MiB, GiB, TiB or K, M, G, T: powers of 1024; KB, MB, GB, TB: powers of "
            "1000), for example 8MiB, 500KB or 4096"
        )
    # Exact: Decimal arithmetic would round to its 28-digit context precision.
    value = Fraction(Decimal(match.group(1))) * UNITS[unit]
    if value.denominator != 1:
        raise ValueError(f"size {text!r} is not a whole number of bytes")
    return value.numerator


def format_size(size: float) -> str:
    """``size`` bytes in binary units to about three figures: ``384 B``, ``1.5 KiB``, ``64 MiB``."""
    value = float(size)
    unit = "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        # 1000 KiB and up reads better as 0.98 MiB than as a four-digit KiB figure.
        if abs(value) < (1024 if unit == "B" else 999.5):
            break
        value /= 1024
        unit = larger
    if unit == "B":
        return f"{int(value)} B"
    # Below 999.5 three figures stay digits; from there .3g would write 1e+03.
    return f"{value:.3g} {unit}" if abs(value) < 999.5 else f"{value:.0f} {unit}"


def format_rate(nbytes: float, seconds: float) -> str:
    """``nbytes`` over ``seconds`` as a rate: ``12.5 MiB/s``."""
    return f"{format_size(nbytes / max(seconds, 1e-9))}/s"
