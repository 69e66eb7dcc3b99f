"""The query options of a store URL (``memory://?bao_shift=2``, ``s3://b/p?endpoint=...``,
``grpc+https://h:1?bao_format=leaves&ca=...``), read one way for every kind of store.

Each option is given once, with a value. Whoever opens the store refuses what it does not accept
(before it creates anything), then takes out what it uses; shifts and formats are checked by the
store interface's own checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from baostore.sizes import parse_size
from baostore.store.interface import BaoFormat, check_format, parse_shift

# The object-store URL schemes (store/objects.py opens them) and the options an s3:// URL takes
# besides every store's.
OBJECT_SCHEMES = ("memory", "file", "s3")
S3_OPTIONS = ("endpoint", "region")

T = TypeVar("T")


class UrlOptions:
    """The options of ``url``'s query (or of ``query``, given apart). ValueError (naming the URL)
    for a malformed query, an option given twice or an option without a value."""

    def __init__(self, url: str, query: str | None = None) -> None:
        self.url = url
        query = urlsplit(url).query if query is None else query
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        except ValueError as error:
            raise ValueError(f"{url!r}: malformed query string: {error}") from None
        self._options: dict[str, str] = {}
        for key, value in pairs:
            if key in self._options:
                raise ValueError(
                    f"{url!r}: option {key!r} given twice; options are given once each"
                )
            if not value:
                raise ValueError(f"{url!r}: option {key!r} has no value")
            self._options[key] = value

    def __contains__(self, key: str) -> bool:
        return key in self._options

    def refuse_unknown(self, accepted: Sequence[str]) -> None:
        """ValueError naming every option not in ``accepted`` (and what is)."""
        unknown = sorted(set(self._options) - set(accepted))
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            scheme = urlsplit(self.url).scheme
            raise ValueError(
                f"{self.url!r}: unknown option{'s' if len(unknown) > 1 else ''} {names} "
                f"(a {scheme}:// store URL accepts {', '.join(accepted) or 'none'})"
            )

    def take(self, key: str) -> str | None:
        """The value of ``key`` (removed from the options), or None if it is not given."""
        return self._options.pop(key, None)

    def take_shift(self, key: str = "bao_shift") -> int | None:
        """The shift ``key`` gives, checked, or None."""
        text = self.take(key)
        return None if text is None else self._checked(parse_shift, text, key)

    def take_size(self, key: str) -> int | None:
        """The size ``key`` gives (``64KiB``, ``1MB``, a number of bytes), or None."""
        text = self.take(key)
        return None if text is None else self._checked(_parse_size, text, key)

    def take_format(self, key: str = "bao_format") -> BaoFormat | None:
        """The bao format ``key`` names, checked, or None."""
        text = self.take(key)
        return None if text is None else self._checked(check_format, text, key)

    def _checked(self, check: Callable[[str, str], T], text: str, key: str) -> T:
        try:
            return check(text, key)
        except ValueError as error:
            raise ValueError(f"{self.url!r}: {error}") from None


def _parse_size(text: str, key: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from None
