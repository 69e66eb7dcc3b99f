# Hand-written stub of the native module built from rust-ext/ (checked by mypy.stubtest).
# The documented API is the facade `baostore.bao`; this module is private.

from collections.abc import Sequence
from typing import Final, Self, final

from typing_extensions import Buffer

__all__ = [
    "MAX_SHIFT",
    "BaoError",
    "Hasher",
    "MalformedBaoError",
    "MismatchError",
    "OutboardBuilder",
    "PostOrderBuilder",
    "ProofPlan",
    "Verifier",
    "cdc_cut_lengths",
    "coarsen",
    "convert_format",
    "hash",
    "outboard",
    "outboard_size",
    "post_order_to_pre_order",
    "pre_order_to_post_order",
    "proof_size",
    "window",
    "window_proof",
]

MAX_SHIFT: Final[int]

class BaoError(ValueError): ...
class MismatchError(BaoError): ...
class MalformedBaoError(BaoError): ...

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
    @staticmethod
    def from_proof(
        root: Buffer,
        size: int,
        proof: Buffer,
        shift: int = 4,
        format: str = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> Verifier: ...
    def update(self, data: Buffer) -> bytes: ...
    def finalize(self) -> bytes: ...
    @property
    def received(self) -> int: ...
    @property
    def released(self) -> int: ...

def window(size: int, shift: int, start: int, end: int) -> tuple[int, int]: ...
def proof_size(size: int, shift: int, format: str, start: int, end: int) -> int: ...
def window_proof(
    outboard: Buffer,
    size: int,
    shift: int,
    format: str,
    start: int,
    end: int,
    layout: str | None = None,
) -> bytes: ...
def pre_order_to_post_order(outboard: Buffer, size: int, shift: int) -> bytes: ...
def post_order_to_pre_order(outboard: Buffer, size: int, shift: int) -> bytes: ...

@final
class PostOrderBuilder:
    def __new__(cls, shift: int = 4) -> Self: ...
    def update(self, data: Buffer) -> bytes: ...
    def finalize(self) -> tuple[bytes, bytes]: ...
    @property
    def size(self) -> int: ...

@final
class ProofPlan:
    def __new__(
        cls,
        size: int,
        stored_shift: int,
        shift: int,
        format: str,
        start: int,
        end: int,
        max_gap: int = 4096,
    ) -> Self: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def outboard_ranges(self) -> list[tuple[int, int]]: ...
    @property
    def data_range(self) -> tuple[int, int] | None: ...
    @property
    def proof_size(self) -> int: ...
    def build(
        self, root: Buffer, pieces: Sequence[Buffer], data: Buffer | None = None
    ) -> bytes: ...
