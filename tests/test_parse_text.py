"""Property tests for the small text parsers: digests, byte sizes, ``--range A:B``, durations and
minimum rates (``--min-rate SIZE/DURATION``).

Each parser must give back exactly what its text names, and refuse everything else with its own
clear error type (InvalidDigestError, ValueError, argparse.ArgumentTypeError), never another one.
"""

from __future__ import annotations

import argparse
import base64
import string
from fractions import Fraction

import pytest
from baostore.cli.arguments import range_argument, rate_argument
from baostore.cli.ranges import ByteRange
from baostore.digests import format_digest, parse_digest
from baostore.durations import UNITS as DURATION_UNITS
from baostore.durations import parse_duration
from baostore.grpc.rate import MAX_SECONDS, MinimumRate
from baostore.sizes import format_size, parse_size
from baostore.store.interface import InvalidDigestError
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=100, deadline=None)
DIGESTS = st.binary(min_size=32, max_size=32)
# Whitespace str.strip removes, ASCII and beyond.
PADDING = st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000", max_size=3)
BASE64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/-_=")


# -- digests ----------------------------------------------------------------------------------


@PROPERTIES
@given(digest=DIGESTS, data=st.data(), before=PADDING, after=PADDING)
def test_hex_digests_round_trip_in_any_case(
    digest: bytes, data: st.DataObject, before: str, after: str
) -> None:
    text = format_digest(digest)
    assert text == digest.hex()
    upper = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    mixed = "".join(char.upper() if up else char for char, up in zip(text, upper, strict=True))
    assert parse_digest(before + mixed + after) == digest


@PROPERTIES
@given(digest=DIGESTS, url_safe=st.booleans(), padded=st.booleans(), before=PADDING)
def test_b3_digests_round_trip_in_both_alphabets(
    digest: bytes, url_safe: bool, padded: bool, before: str
) -> None:
    encoded = (base64.urlsafe_b64encode if url_safe else base64.b64encode)(digest).decode()
    assert encoded.endswith("=")  # 32 bytes always need one padding character
    text = "b3:" + (encoded if padded else encoded.rstrip("="))
    assert parse_digest(before + text) == digest


def _assert_refused(text: str) -> None:
    with pytest.raises(InvalidDigestError, match="not a digest"):
        parse_digest(text)


@PROPERTIES
@given(text=st.text(alphabet=string.hexdigits, max_size=130).filter(lambda text: len(text) != 64))
def test_hex_of_the_wrong_length_is_refused(text: str) -> None:
    _assert_refused(text)


@PROPERTIES
@given(digest=DIGESTS, data=st.data(), intruder=st.characters(codec="utf-8"))
def test_a_foreign_character_inside_hex_is_refused(
    digest: bytes, data: st.DataObject, intruder: str
) -> None:
    text = digest.hex()
    position = data.draw(st.integers(1, len(text) - 1))
    replace = data.draw(st.booleans()) and intruder not in string.hexdigits
    rest = text[position + 1 :] if replace else text[position:]
    _assert_refused(text[:position] + intruder + rest)


@PROPERTIES
@given(raw=st.binary(max_size=64).filter(lambda raw: len(raw) != 32), url_safe=st.booleans())
def test_b3_of_the_wrong_length_is_refused(raw: bytes, url_safe: bool) -> None:
    encoded = (base64.urlsafe_b64encode if url_safe else base64.b64encode)(raw).decode()
    _assert_refused("b3:" + encoded)


@PROPERTIES
@given(
    digest=DIGESTS,
    data=st.data(),
    intruder=st.characters(codec="utf-8").filter(lambda char: char not in BASE64_ALPHABET),
)
def test_a_foreign_character_inside_b3_base64_is_refused(
    digest: bytes, data: st.DataObject, intruder: str
) -> None:
    encoded = base64.b64encode(digest).decode().rstrip("=")
    # Never after the last character, where it would be surrounding whitespace, or none at all.
    position = data.draw(st.integers(0, len(encoded) - 1))
    _assert_refused("b3:" + encoded[:position] + intruder + encoded[position:])


@PROPERTIES
@given(text=st.one_of(st.text(), st.text().map(lambda text: "b3:" + text)))
def test_any_text_is_a_digest_or_invalid_digest_error(text: str) -> None:
    try:
        digest = parse_digest(text)
    except InvalidDigestError as error:
        assert "not a digest" in str(error)
    else:
        assert len(digest) == 32


# -- sizes ------------------------------------------------------------------------------------

UNIT_FACTORS = {
    "": 1,
    "B": 1,
    "K": 1024,
    "KiB": 1024,
    "M": 1024**2,
    "MiB": 1024**2,
    "G": 1024**3,
    "GiB": 1024**3,
    "T": 1024**4,
    "TiB": 1024**4,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}
UNITS = st.sampled_from(sorted(UNIT_FACTORS))
SPACES = st.text(alphabet=" \t", max_size=2)


@st.composite
def any_case(draw: st.DrawFn, text: str) -> str:
    upper = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, upper, strict=True))


@PROPERTIES
@given(
    count=st.one_of(st.integers(0, 10_000), st.integers(0, 2**100)),
    unit=UNITS,
    data=st.data(),
    gap=SPACES,
    before=SPACES,
    after=SPACES,
)
def test_whole_counts_times_the_unit(
    count: int, unit: str, data: st.DataObject, gap: str, before: str, after: str
) -> None:
    written = data.draw(any_case(unit))
    assert parse_size(f"{before}{count}{gap}{written}{after}") == count * UNIT_FACTORS[unit]


@PROPERTIES
@given(whole=st.integers(0, 10**30), fraction=st.text(string.digits, min_size=1, max_size=30))
def test_decimal_counts_are_exact_or_refused(whole: int, fraction: str) -> None:
    for unit, factor in UNIT_FACTORS.items():
        text = f"{whole}.{fraction}{unit}"
        exact = Fraction(f"{whole}.{fraction}") * factor
        if exact.denominator == 1:
            assert parse_size(text) == exact
        else:
            with pytest.raises(ValueError, match="not a whole number of bytes"):
                parse_size(text)


@PROPERTIES
@given(count=st.integers(1, 999), power=st.integers(0, 4))
def test_exact_formatted_sizes_round_trip(count: int, power: int) -> None:
    size = count << (10 * power)
    text = format_size(size)
    assert parse_size(text) == size
    assert text.split()[1] == ["B", "KiB", "MiB", "GiB", "TiB"][power]


@PROPERTIES
@given(size=st.one_of(st.integers(0, 2**20), st.integers(0, 2**60)))
def test_formatted_sizes_parse_to_about_the_size(size: int) -> None:
    text = format_size(size)
    try:
        parsed = parse_size(text)
    except ValueError as error:
        # Three figures of a binary unit are not always a whole number of bytes.
        assert "not a whole number of bytes" in str(error), text
    else:
        assert abs(parsed - size) <= size / 200, text


@PROPERTIES
@given(power=st.integers(0, 4), data=st.data())
def test_sizes_near_the_next_unit_format_as_numbers(power: int, data: st.DataObject) -> None:
    """Rounding to three figures just below the next unit (or 1000 TiB) must still give digits."""
    unit = 1 << (10 * power)
    size = data.draw(st.integers(999 * unit, 1001 * unit))
    text = format_size(size)
    number, _ = text.split()
    assert number.replace(".", "").isdigit(), text
    try:
        assert abs(parse_size(text) - size) <= size / 200, text
    except ValueError as error:
        assert "not a whole number of bytes" in str(error), text


GARBAGE_SIZES = st.one_of(
    st.text(),
    st.builds(lambda count, suffix: f"{count}{suffix}", st.integers(), st.text(max_size=4)),
    st.sampled_from(
        ["", "-1", "1.", ".5", "1e3", "0x10", "1,000", "1_000", "KiB", "1 2", "8 MiBs"]
    ),
)


@PROPERTIES
@given(text=GARBAGE_SIZES)
def test_any_text_is_a_size_or_a_clear_value_error(text: str) -> None:
    try:
        size = parse_size(text)
    except ValueError as error:
        assert repr(text) in str(error)
    else:
        assert size >= 0


@pytest.mark.parametrize("text", ["", "-1", "1.", ".5", "1e3", "0x10", "1,000", "1 2", "8 MiBs"])
def test_sizes_people_do_not_write_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a byte count"):
        parse_size(text)


# -- --range A:B ------------------------------------------------------------------------------

OFFSETS = st.one_of(st.integers(0, 2**20), st.integers(0, 2**70))


@PROPERTIES
@given(start=st.one_of(st.none(), OFFSETS), length=st.one_of(st.none(), st.integers(1, 2**70)))
def test_ranges_parse_to_their_bounds(start: int | None, length: int | None) -> None:
    end = None if length is None else (start or 0) + length
    text = f"{'' if start is None else start}:{'' if end is None else end}"
    expected = ByteRange(start or 0, end)
    assert ByteRange.parse(text) == expected
    assert range_argument(text) == expected


@PROPERTIES
@given(start=st.integers(1, 2**70), shortfall=st.integers(1, 2**70))
def test_ranges_ending_before_they_start_are_refused(start: int, shortfall: int) -> None:
    text = f"{start}:{max(start - shortfall, 0)}"
    with pytest.raises(ValueError, match="need 0 <= START <= END"):
        ByteRange.parse(text)
    with pytest.raises(argparse.ArgumentTypeError, match="START <= END"):
        range_argument(text)


@PROPERTIES
@given(start=st.one_of(st.none(), OFFSETS))
def test_explicitly_empty_ranges_are_refused(start: int | None) -> None:
    text = f"{'' if start is None else start}:{start or 0}"
    with pytest.raises(ValueError, match="is empty"):
        ByteRange.parse(text)
    with pytest.raises(argparse.ArgumentTypeError, match="is empty"):
        range_argument(text)


@PROPERTIES
@given(
    size=OFFSETS,
    start=st.one_of(st.integers(0, 2**20), st.integers(0, 2**70)),
    end=st.one_of(st.none(), OFFSETS),
)
def test_a_range_within_a_blob_is_the_bytes_it_names_or_a_value_error(
    size: int, start: int, end: int | None
) -> None:
    if end is not None and end <= start:
        return
    byte_range = ByteRange(start, end)
    try:
        first, last = byte_range.within(size)
    except ValueError as error:
        assert "range" in str(error)
        assert (end if end is not None else size) > size or start >= size
    else:
        assert 0 <= first <= last <= size
        assert first < last or (first, last, size) == (0, 0, 0)


@PROPERTIES
@given(start=st.integers(1, 2**70), end=st.one_of(st.none(), st.integers(0, 2**70)))
def test_negative_starts_are_refused(start: int, end: int | None) -> None:
    text = f"-{start}:{'' if end is None else end}"
    with pytest.raises(ValueError, match="START and END must be byte offsets"):
        ByteRange.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1MiB:2MiB", ByteRange(1 << 20, 2 << 20)),
        ("16KiB:", ByteRange(16 << 10)),
        (":1MB", ByteRange(0, 10**6)),
        ("1.5KiB:2K", ByteRange(1536, 2048)),
    ],
)
def test_ranges_take_the_size_units_of_every_other_option(text: str, expected: ByteRange) -> None:
    assert range_argument(text) == expected
    start, _, end = text.partition(":")
    assert expected.start == (parse_size(start) if start else 0)
    assert expected.end == (parse_size(end) if end else None)


@PROPERTIES
@given(text=st.one_of(st.text(), st.text(alphabet="0123456789:-+ _x", max_size=12)))
def test_any_text_is_a_range_or_an_argument_type_error(text: str) -> None:
    try:
        parsed = ByteRange.parse(text)
    except ValueError as error:
        assert repr(text) in str(error)
        with pytest.raises(argparse.ArgumentTypeError, match="range"):
            range_argument(text)
    else:
        assert parsed.start >= 0
        assert parsed.end is None or parsed.start < parsed.end
        assert range_argument(text) == parsed


@pytest.mark.parametrize("text", ["", "12", "a:b", "1:2:3", "0x10:", "1.5:2"])
def test_ranges_that_are_not_offsets_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="range"):
        range_argument(text)


# -- durations (gc --grace, the window of a rate) ------------------------------------------------


@PROPERTIES
@given(
    amount=st.one_of(st.integers(0, 10**9), st.decimals("0", "100000", places=3)),
    unit=st.sampled_from(sorted(DURATION_UNITS)),
    upper=st.booleans(),
    before=st.sampled_from(["", " "]),
)
def test_durations_parse_to_their_seconds(
    amount: object, unit: str, upper: bool, before: str
) -> None:
    text = f"{before}{amount}{unit.upper() if upper else unit}"
    assert parse_duration(text) == float(str(amount)) * DURATION_UNITS[unit]


@PROPERTIES
@given(text=st.one_of(st.text(), st.text(alphabet="0123456789.smhdy -", max_size=8)))
def test_any_text_is_a_duration_or_a_clear_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        assert repr(text) in str(error)
    else:
        assert seconds >= 0


@pytest.mark.parametrize("text", ["", "-1", "1e3", "1 h 2", "2w", "1hour", ".5h", "h"])
def test_durations_people_do_not_write_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# -- --min-rate SIZE/SECONDS --------------------------------------------------------------------


@PROPERTIES
@given(
    size=st.integers(0, 2**50),
    unit=st.sampled_from(["", "B", "KiB", "k", "MB"]),
    window=st.one_of(st.integers(1, MAX_SECONDS), st.decimals("0.001", "100000", places=3)),
    suffix=st.sampled_from(["", "s", "S"]),
    spaces=st.sampled_from(["", " "]),
)
def test_rates_parse_to_what_they_name(
    size: int, unit: str, window: object, suffix: str, spaces: str
) -> None:
    text = f"{size}{unit}{spaces}/{spaces}{window}{suffix}"
    if float(str(window)) == 0:
        return
    expected = MinimumRate(parse_size(f"{size}{unit}"), float(str(window)))
    assert MinimumRate.parse(text) == expected
    assert rate_argument(text) == expected


@PROPERTIES
@given(text=st.one_of(st.text(), st.text(alphabet="0123456789/.:-+ sKiBm", max_size=12)))
def test_any_text_is_a_rate_or_an_argument_type_error(text: str) -> None:
    try:
        rate = MinimumRate.parse(text)
    except ValueError as error:
        assert repr(text) in str(error)
        with pytest.raises(argparse.ArgumentTypeError, match="not a rate"):
            rate_argument(text)
    else:
        assert rate.min_bytes >= 0 and 0 < rate.window <= MAX_SECONDS


@pytest.mark.parametrize(
    "text", ["", "64KiB", "64KiB/", "/60s", "64KiB/0s", "-1/5s", "1/1e3", "1/60y", "1/2/3"]
)
def test_rates_people_do_not_write_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a rate"):
        MinimumRate.parse(text)
