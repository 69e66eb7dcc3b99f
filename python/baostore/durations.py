"""Durations as people write them (``90``, ``90s``, ``1.5m``, ``2h``, ``1d``), in seconds, with one
meaning everywhere (``gc --grace``, the window of a minimum rate)."""

from __future__ import annotations

import re

UNITS: dict[str, float] = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """The number of seconds ``text`` names; ValueError with the accepted forms otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"not a duration: {text!r}: use a number of seconds with an optional unit "
            "(s, m, h, d), for example 90, 30s, 15m or 2h"
        )
    return float(match.group(1)) * UNITS[match.group(2).lower()]
