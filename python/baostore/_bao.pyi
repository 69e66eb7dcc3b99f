# Hand-written stub of the native module built from rust-ext/ (checked by mypy.stubtest).
# The documented API is the facade `baostore.bao`; this module is private.

from typing import Final, Self, final

from typing_extensions import Buffer

__all__ = [
    "MAX_SHIFT",
    "BaoError",
    "Hasher",
    "OutboardBuilder",
    "Verifier",
    "cdc_cut_lengths",
    "coarsen",
    "convert_format",
    "hash",
    "outboard",
    "outboard_size",
]

MAX_SHIFT: Final[int]

class BaoError(ValueError): ...

def hash(data: Buffer) -> bytes: ...
def outboard_size(size: int, shift: int = 4, format: str = "pre_order") -> int: ...
def outboard(
    data: Buffer, shift: int = 4, format: str = "pre_order", threads: int = 1
) -> tuple[bytes, bytes]: ...
def coarsen(
    outboard: Buffer, size: int, from_shift: int, to_shift: int, format: str = "pre_order"
) -> bytes: ...
def convert_format(
    outboard: Buffer, size: int, shift: int, from_format: str, to_format: str
) -> bytes: ...
def cdc_cut_lengths(
    data: Buffer, min_size: int, avg_size: int, max_size: int, final: bool
) -> list[int]: ...

@final
class Hasher:
    def __new__(cls) -> Self: ...
    def update(self, data: Buffer) -> None: ...
    def digest(self) -> bytes: ...
    @property
    def size(self) -> int: ...

@final
class OutboardBuilder:
    def __new__(cls, shift: int = 4, format: str = "pre_order") -> Self: ...
    def update(self, data: Buffer) -> None: ...
    def finalize(self) -> tuple[bytes, bytes]: ...
    @property
    def size(self) -> int: ...

@final
class Verifier:
    def __new__(
        cls,
        root: Buffer,
        size: int,
        outboard: Buffer,
        shift: int = 4,
        format: str = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> Self: ...
    def update(self, data: Buffer) -> bytes: ...
    def finalize(self) -> bytes: ...
    @property
    def received(self) -> int: ...
    @property
    def released(self) -> int: ...
