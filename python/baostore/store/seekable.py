"""What every seekable blob reader shares: whence arithmetic, and ``readinto`` over ``read``."""

from __future__ import annotations

import io

from typing_extensions import Buffer


def seek_target(offset: int, whence: int, position: int, size: int) -> int:
    """The absolute position ``seek(offset, whence)`` moves to, from ``position`` in a blob of
    ``size`` bytes; past the end is allowed (reads there return nothing), before 0 is not."""
    if whence == io.SEEK_SET:
        target = offset
    elif whence == io.SEEK_CUR:
        target = position + offset
    elif whence == io.SEEK_END:
        target = size + offset
    else:
        raise ValueError(f"invalid whence {whence} (use SEEK_SET, SEEK_CUR or SEEK_END)")
    if target < 0:
        raise ValueError(f"negative seek position {target}")
    return target


class ReadBasedReader(io.RawIOBase):
    """A readable, seekable raw file whose subclass implements ``read``; the rest follows."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            data = self.read(len(target))
            target[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def read(self, size: int | None = -1) -> bytes:
        raise NotImplementedError
