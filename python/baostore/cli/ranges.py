"""``--range A:B``: the byte range a get writes or a verify checks."""

from __future__ import annotations

from dataclasses import dataclass

from baostore.sizes import parse_size


@dataclass(frozen=True)
class ByteRange:
    """``A:B`` on the command line: bytes ``[start, end)``; either side may be left out."""

    start: int = 0
    end: int | None = None

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        """``A:B``, the offsets in any unit ``parse_size`` reads (``1MiB:2MiB``, ``0:4096``)."""
        start_text, sep, end_text = text.partition(":")
        if not sep:
            raise ValueError(
                f"range {text!r} is not START:END (for example 0:4096, 1MiB:2MiB or 1024:)"
            )
        try:
            start = parse_size(start_text) if start_text else 0
            end = parse_size(end_text) if end_text else None
        except ValueError:
            raise ValueError(
                f"range {text!r}: START and END must be byte offsets (4096, 16KiB, 1MB)"
            ) from None
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"range {text!r}: need 0 <= START <= END")
        if end == start:
            raise ValueError(f"range {text!r} is empty: END must be greater than START")
        return cls(start, end)

    def within(self, size: int) -> tuple[int, int]:
        """``(start, end)`` for a blob of ``size`` bytes; ValueError if the range lies outside or
        holds no byte (only the whole of the empty blob, ``0:``, is empty)."""
        end = size if self.end is None else self.end
        if end > size:
            raise ValueError(f"range {self.start}:{end} reaches past the end of the blob ({size})")
        if self.start >= end and self.start > 0:
            raise ValueError(
                f"range {self.start}: starts past the last byte of the blob ({size} bytes)"
            )
        return self.start, end
