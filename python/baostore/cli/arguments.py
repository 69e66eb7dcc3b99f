"""Command-line values: argparse types made from the parsers the rest of the package uses, so an
option means what the same text means anywhere else (``--shift`` checks a shift as a store does,
``--max-blob-size 16GB`` is 16 * 10^9 bytes as ``shift-report --size 16GB`` is)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from baostore.cli.ranges import ByteRange
from baostore.digests import parse_digest
from baostore.durations import parse_duration
from baostore.grpc.rate import MinimumRate
from baostore.sizes import parse_size
from baostore.store.interface import parse_shift

T = TypeVar("T")


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` from ``parse``: its ValueError becomes a usage error saying why."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _parse_shift_option(text: str) -> int:
    return parse_shift(text, "--shift")


digest_argument = argument(parse_digest)
range_argument = argument(ByteRange.parse)
shift_argument = argument(_parse_shift_option)
size_argument = argument(parse_size)
rate_argument = argument(MinimumRate.parse)
duration_argument = argument(parse_duration)
