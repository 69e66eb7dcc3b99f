"""Measure what each bao shift costs and buys, for one blob, over a live gRPC server.

For every shift and bao format (one ``ShiftRow`` each):

* ``bao_bytes``, ``overhead_pct``: the size of the bao here (``bao.outboard``) and its share of
  the blob;
* ``stat_bytes``, ``fits_message``: the Stat answer a verified reader gets (chunk list and bao),
  measured on the wire, and whether the server could answer at this shift within one 4 MiB
  message (if not it answers at a coarser shift, ``served_shift``, and ``stat_bytes`` is the size
  of that answer);
* ``outboard_mb_s``, ``verify_mb_s``: single-thread ``bao.outboard`` and ``bao.Verifier`` (fed
  1 MiB pieces) throughput, fastest of at least three runs, in 10^6 bytes per second (every
  run in ``outboard_runs_mb_s``, ``verify_runs_mb_s``: the spread);
* ``first_byte_ms``: from ``open_verified`` on the gRPC client store to the first verified byte
  (Stat, bao check, first chunk, first group), median of three (all three in
  ``first_byte_runs_ms``);
* ``range_read_bytes``: what a verified read of 4 KiB at a fixed pseudo-random offset
  (``range_read_span``) transfers: the Stat answer plus the chunk bytes fetched, median of
  three (``range_read_runs_bytes``);
* ``detection_bytes``: the data bytes a server that inverts the byte at ``corrupt_offset``
  (``size // 2``) had sent the client when the client raised ``VerificationError`` (see
  ``lying.py`` for how it sends them), median of three (``detection_runs_bytes``): the client's
  read-ahead may take in a few more messages before the verifier reaches the bad group.

Sizes (bao, Stat answer) are exact; everything measured over the wire or timed varies from run
to run, which is why each keeps its runs.

The blob goes into ``store``; unless ``remote_url`` names a server already serving that store,
it is served on a loopback port in this process. The lying server always runs in this process,
over the same store.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from typing_extensions import Buffer

from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.services import MAX_MESSAGE_SIZE
from baostore.open import GRPC_SCHEMES, open_store
from baostore.shiftreport.loopback import serve_loopback
from baostore.shiftreport.lying import ByteFlippingStore
from baostore.shiftreport.wire import StatProbe, open_probe
from baostore.store.chunked import ChunkedStore
from baostore.store.interface import PIECE_SIZE, BaoFormat, BlobStore, StoreError
from baostore.store.objects import memory_backend
from baostore.verify import ReadOptions, VerificationError, VerifiedReader, open_verified

METRICS = (
    "bao_bytes",
    "overhead_pct",
    "stat_bytes",
    "fits_message",
    "outboard_mb_s",
    "verify_mb_s",
    "first_byte_ms",
    "range_read_bytes",
    "detection_bytes",
)
# Each run of the timed metrics (their spread) and where the range read and the lie were.
SPREADS = (
    "outboard_runs_mb_s",
    "verify_runs_mb_s",
    "first_byte_runs_ms",
    "range_read_runs_bytes",
    "detection_runs_bytes",
)
PLACES = ("range_offset", "corrupt_offset")
ROW_KEYS = ("shift", "format", *METRICS, *SPREADS, *PLACES)

RANGE_LENGTH = 4096
# Any fixed seed: every shift (and every run on the same size) reads the same range.
RANGE_SEED = 4096
FIRST_BYTE_RUNS = 3
# Range reads and lies over the wire: the median of this many.
WIRE_RUNS = 3
# Throughput: the fastest of at least MIN and up to MAX runs, stopping after MIN once this much
# time went into them.
MIN_TIMED_RUNS = 3
MAX_TIMED_RUNS = 5
TIMING_BUDGET_SECONDS = 0.25
_MEGABYTE = 1e6

T = TypeVar("T")
# on_step(done, total, what): ``done`` of ``total`` steps are finished, ``what`` runs now.
StepCallback = Callable[[int, int, str], None]


class MeasurementError(StoreError):
    """A measurement could not be made (a server misbehaved, the store lost the blob, ...)."""


@dataclass(frozen=True)
class ShiftRow:
    """The measurements at one shift and format (``served_shift``: the shift of the answer)."""

    shift: int
    format: BaoFormat
    bao_bytes: int
    overhead_pct: float
    stat_bytes: int
    fits_message: bool
    outboard_mb_s: float
    verify_mb_s: float
    first_byte_ms: float
    range_read_bytes: int
    detection_bytes: int
    served_shift: int
    outboard_runs_mb_s: tuple[float, ...]
    verify_runs_mb_s: tuple[float, ...]
    first_byte_runs_ms: tuple[float, ...]
    range_read_runs_bytes: tuple[int, ...]
    detection_runs_bytes: tuple[int, ...]
    range_offset: int
    corrupt_offset: int

    def to_json(self) -> dict[str, Any]:
        """The row as ``--json`` prints it: exactly ``ROW_KEYS``."""
        return {
            key: list(value) if isinstance(value := getattr(self, key), tuple) else value
            for key in ROW_KEYS
        }


@dataclass(frozen=True)
class Report:
    """All rows, and what they were measured on."""

    size: int
    digest: bytes
    server: str
    range_offset: int
    range_length: int
    corrupt_offset: int
    rows: tuple[ShiftRow, ...]


def range_read_span(size: int) -> tuple[int, int]:
    """``(offset, length)`` of the range read: 4 KiB (or the whole of a smaller blob)."""
    length = min(RANGE_LENGTH, size)
    return random.Random(RANGE_SEED).randrange(size - length + 1), length


def corrupt_offset(size: int) -> int:
    """Where the lying server corrupts the blob: its middle byte, at every shift."""
    return size // 2


def step_count(shifts: Sequence[int], formats: Sequence[BaoFormat]) -> int:
    """How many steps ``measure_report`` reports: storing the blob, then one per row."""
    return 1 + len(shifts) * len(formats)


@dataclass(frozen=True)
class MeasuredStore:
    """The store the blob goes into, and the server already serving it (None: serve it here)."""

    store: BlobStore
    remote_url: str | None
    description: str


def open_measured_store(url: str | None, finest_shift: int) -> MeasuredStore:
    """The store for ``--store url``; None: a memory store holding its bao at ``finest_shift``.

    Holding the finest bao lets the server derive every answer by coarsening (cheap), instead of
    rehashing the blob for each Stat finer than its stored shift.
    """
    if url is None:
        memory = ChunkedStore(memory_backend(), bao_shift=finest_shift)
        return MeasuredStore(memory, None, "a memory store served on loopback")
    store = open_store(url)
    if url.partition("://")[0].lower() in GRPC_SCHEMES:
        return MeasuredStore(store, url, url)
    return MeasuredStore(store, None, f"{url} served on loopback")


def measure_report(
    data: Buffer,
    *,
    shifts: Sequence[int],
    formats: Sequence[BaoFormat],
    target: MeasuredStore,
    on_step: StepCallback | None = None,
) -> Report:
    """Store ``data`` in ``target`` and measure every shift in ``shifts`` for every format."""
    if not shifts or not formats:
        raise ValueError("measure at least one shift and one format")
    view = memoryview(data).cast("B")
    size = len(view)
    if size == 0:
        raise ValueError("an empty blob has no bao to measure: give at least one byte")
    total = step_count(shifts, formats)
    report_step = on_step or _ignore_step
    report_step(0, total, "storing the blob")
    digest = target.store.put(view)
    if digest != bao.hash(view):
        raise MeasurementError("the store answered put with a digest that is not the data's hash")
    offset, length = range_read_span(size)
    flipped_at = corrupt_offset(size)
    rows: list[ShiftRow] = []
    with _clients(target, digest, flipped_at, bao.group_size(max(shifts))) as clients:
        for shift in shifts:
            for bao_format in formats:
                report_step(len(rows) + 1, total, f"shift {shift}, {bao_format}")
                rows.append(_measure_row(view, digest, shift, bao_format, clients, offset, length))
    report_step(total, total, "done")
    return Report(
        size=size,
        digest=digest,
        server=target.description,
        range_offset=offset,
        range_length=length,
        corrupt_offset=flipped_at,
        rows=tuple(rows),
    )


@dataclass(frozen=True)
class _Clients:
    honest: GrpcBlobStore
    lying: GrpcBlobStore
    probe: StatProbe


@contextmanager
def _clients(
    target: MeasuredStore, digest: bytes, flipped_at: int, fine_span: int
) -> Iterator[_Clients]:
    """gRPC clients of the honest server and of the lying one (started here)."""
    with ExitStack() as stack:
        honest_url = target.remote_url or stack.enter_context(serve_loopback(target.store))
        liar = ByteFlippingStore(target.store, digest, flipped_at, fine_span)
        lying_url = stack.enter_context(serve_loopback(liar))
        honest = stack.enter_context(GrpcBlobStore.from_url(honest_url))
        lying = stack.enter_context(GrpcBlobStore.from_url(lying_url))
        probe = open_probe(honest_url, honest.target)
        stack.callback(probe.close)
        # Connect both channels now, so no measurement pays for the connection.
        for client in (honest, lying):
            if not client.has(digest):
                raise MeasurementError(f"{client.display} does not have the blob just stored")
        yield _Clients(honest, lying, probe)


def _measure_row(
    data: memoryview,
    digest: bytes,
    shift: int,
    bao_format: BaoFormat,
    clients: _Clients,
    range_offset: int,
    range_length: int,
) -> ShiftRow:
    size = len(data)
    outboard_runs, (_, outboard) = _timed(lambda: bao.outboard(data, shift, bao_format))
    verify_runs, _ = _timed(lambda: _verify_all(data, digest, outboard, shift, bao_format))
    options = ReadOptions(bao_shift=shift, bao_format=bao_format)
    wire = clients.probe.stat(
        digest, bao_shift=shift, bao_format=bao_format, inline_limit=options.inline_limit
    )
    first_byte_runs = [
        _first_byte_seconds(clients.honest, digest, options) for _ in range(FIRST_BYTE_RUNS)
    ]
    range_reads = tuple(
        wire.size
        + _range_read_fetched(clients.honest, digest, options, data, range_offset, range_length)
        for _ in range(WIRE_RUNS)
    )
    detections = tuple(_detection_bytes(clients.lying, digest, options) for _ in range(WIRE_RUNS))
    return ShiftRow(
        shift=shift,
        format=bao_format,
        bao_bytes=len(outboard),
        overhead_pct=100 * len(outboard) / size,
        stat_bytes=wire.size,
        fits_message=wire.served_shift == shift and wire.size < MAX_MESSAGE_SIZE,
        outboard_mb_s=size / _MEGABYTE / min(outboard_runs),
        verify_mb_s=size / _MEGABYTE / min(verify_runs),
        first_byte_ms=statistics.median(first_byte_runs) * 1000,
        range_read_bytes=statistics.median_low(range_reads),
        detection_bytes=statistics.median_low(detections),
        served_shift=wire.served_shift,
        outboard_runs_mb_s=tuple(size / _MEGABYTE / seconds for seconds in outboard_runs),
        verify_runs_mb_s=tuple(size / _MEGABYTE / seconds for seconds in verify_runs),
        first_byte_runs_ms=tuple(seconds * 1000 for seconds in first_byte_runs),
        range_read_runs_bytes=range_reads,
        detection_runs_bytes=detections,
        range_offset=range_offset,
        corrupt_offset=corrupt_offset(size),
    )


def _timed(run: Callable[[], T]) -> tuple[list[float], T]:
    """The times of MIN_TIMED_RUNS to MAX_TIMED_RUNS runs of ``run`` (more while they are quick),
    and the result of the first."""
    start = time.perf_counter()
    result = run()
    times = [max(time.perf_counter() - start, 1e-9)]
    while len(times) < MAX_TIMED_RUNS and (
        len(times) < MIN_TIMED_RUNS or sum(times) < TIMING_BUDGET_SECONDS
    ):
        start = time.perf_counter()
        run()
        times.append(max(time.perf_counter() - start, 1e-9))
    return times, result


def _verify_all(
    data: memoryview, root: bytes, outboard: bytes, shift: int, bao_format: BaoFormat
) -> None:
    verifier = bao.Verifier(root, len(data), outboard, shift=shift, format=bao_format)
    for start in range(0, len(data), PIECE_SIZE):
        verifier.update(data[start : start + PIECE_SIZE])
    verifier.finalize()


def _open(client: GrpcBlobStore, digest: bytes, options: ReadOptions) -> VerifiedReader:
    reader = open_verified(client, digest, options)
    if reader is None:
        raise MeasurementError(f"{client.display} lost the blob {digest.hex()}")
    return reader


def _first_byte_seconds(client: GrpcBlobStore, digest: bytes, options: ReadOptions) -> float:
    start = time.perf_counter()
    with _open(client, digest, options) as reader:
        if len(reader.read(1)) != 1:
            raise MeasurementError(f"{client.display} sent no data for the blob")
        return time.perf_counter() - start


def _range_read_fetched(
    client: GrpcBlobStore,
    digest: bytes,
    options: ReadOptions,
    data: memoryview,
    offset: int,
    length: int,
) -> int:
    """Chunk bytes fetched for a verified read of ``[offset, offset + length)``."""
    with _open(client, digest, options) as reader:
        reader.seek(offset)
        if reader.read(length) != data[offset : offset + length]:
            raise MeasurementError(f"{client.display} returned wrong bytes for the range read")
        return reader.stats.bytes_fetched


def _detection_bytes(lying: GrpcBlobStore, digest: bytes, options: ReadOptions) -> int:
    """Data bytes the lying server had sent when the client noticed (data by Read, never inline)."""
    with _open(lying, digest, replace(options, inline_limit=0)) as reader:
        try:
            while reader.read(PIECE_SIZE):
                pass
        except VerificationError:
            return reader.stats.bytes_fetched
    raise MeasurementError("the client read a blob with a corrupted byte without noticing")


def _ignore_step(done: int, total: int, what: str) -> None:
    del done, total, what
