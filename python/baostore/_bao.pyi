# Hand-written stub of the native module built from rust-ext/ (checked by mypy.stubtest).
# Its classes and functions are the public API, re-exported by the facade `baostore.bao`;
# their docstrings live in the Rust source.

from collections.abc import Sequence
from os import PathLike
from typing import Final, Literal, Self, TypeAlias, final

from typing_extensions import Buffer

__all__ = [
    "MAX_SHIFT",
    "MAX_THREADS",
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
    "decode_bao_cli_outboard",
    "encode_bao_cli_outboard",
    "group_size",
    "hash",
    "hash_file",
    "outboard",
    "outboard_size",
    "post_order_to_pre_order",
    "pre_order_to_post_order",
    "proof_size",
    "window",
    "window_proof",
]

_Format: TypeAlias = Literal["pre_order", "leaves"]
_Layout: TypeAlias = Literal["pre_order", "post_order", "leaves"]

MAX_SHIFT: Final[int]
MAX_THREADS: Final[int]

class BaoError(ValueError): ...
class MismatchError(BaoError): ...
class MalformedBaoError(BaoError): ...

def group_size(shift: int) -> int: ...
def hash(data: Buffer) -> bytes: ...
def outboard_size(size: int, shift: int = 4, format: _Format = "pre_order") -> int: ...
def outboard(
    data: Buffer, shift: int = 4, format: _Format = "pre_order", threads: int = 1
) -> tuple[bytes, bytes]: ...
def coarsen(
    outboard: Buffer, size: int, from_shift: int, to_shift: int, format: _Format = "pre_order"
) -> bytes: ...
def convert_format(
    outboard: Buffer, size: int, shift: int, from_format: _Format, to_format: _Format
) -> bytes: ...
def cdc_cut_lengths(
    data: Buffer, min_size: int, avg_size: int, max_size: int, final: bool
) -> list[int]: ...
def hash_file(path: str | PathLike[str], threads: int | None = None) -> bytes: ...
def encode_bao_cli_outboard(outboard: Buffer, size: int) -> bytes: ...
def decode_bao_cli_outboard(data: Buffer) -> tuple[int, bytes]: ...
def window(size: int, shift: int, start: int, end: int) -> tuple[int, int]: ...
def proof_size(size: int, shift: int, format: _Format, start: int, end: int) -> int: ...
def window_proof(
    outboard: Buffer,
    size: int,
    shift: int,
    format: _Format,
    start: int,
    end: int,
    layout: _Layout | None = None,
) -> bytes: ...
def pre_order_to_post_order(outboard: Buffer, size: int, shift: int) -> bytes: ...
def post_order_to_pre_order(outboard: Buffer, size: int, shift: int) -> bytes: ...

@final
class Hasher:
    def __new__(cls) -> Self: ...
    def update(self, data: Buffer) -> None: ...
    def digest(self) -> bytes: ...
    @property
    def size(self) -> int: ...

@final
class OutboardBuilder:
    def __new__(cls, shift: int = 4, format: _Format = "pre_order") -> Self: ...
    def update(self, data: Buffer) -> None: ...
    def finalize(self) -> tuple[bytes, bytes]: ...
    @property
    def size(self) -> int: ...

@final
class PostOrderBuilder:
    def __new__(cls, shift: int = 4) -> Self: ...
    def update(self, data: Buffer) -> bytes: ...
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
        format: _Format = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> Self: ...
    @staticmethod
    def from_proof(
        root: Buffer,
        size: int,
        proof: Buffer,
        shift: int = 4,
        format: _Format = "pre_order",
        start: int = 0,
        end: int | None = None,
    ) -> Verifier: ...
    def update(self, data: Buffer) -> bytes: ...
    def check(self, data: Buffer) -> int: ...
    def finalize(self) -> bytes: ...
    @property
    def received(self) -> int: ...
    @property
    def released(self) -> int: ...
    @property
    def verified(self) -> int: ...

@final
class ProofPlan:
    def __new__(
        cls,
        size: int,
        stored_shift: int,
        shift: int,
        format: _Format,
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
