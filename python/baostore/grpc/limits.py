"""Server limits: blob size, concurrent calls, idle streams and received message size.

* ``max_blob_size``: a Put stream that delivers more fails with RESOURCE_EXHAUSTED; the
  servicer then aborts its writer, so nothing of it becomes visible.
* ``max_concurrent_streams``: calls in progress at once (all methods, health included); gRPC
  refuses the next one with RESOURCE_EXHAUSTED.
* ``max_concurrent_puts``: Puts stored at once; more wait their turn (their data held back by
  flow control) for up to ``put_slot_timeout`` seconds, then fail with RESOURCE_EXHAUSTED. A Put
  holds at most a maximum chunk plus the cut window plus the chunks in flight (~18 MiB with the
  default chunk sizes), so this bounds the server's memory.
* ``idle_timeout``: a Put whose next data does not arrive, or a Read whose next message the
  client does not take, within this many seconds fails with DEADLINE_EXCEEDED.
* ``min_rate``: so does a Put or Read stream that moves fewer than ``min_rate.min_bytes`` in a
  window of ``min_rate.window`` seconds spent waiting for the client (see rate.py): a client
  dripping a byte every few seconds never idles, but holds a Put slot and a stream forever.
* ``max_message_size``: the largest message the server accepts (gRPC answers
  RESOURCE_EXHAUSTED beyond it). What the server sends stays under the protocol's 4 MiB.
* ``max_expensive_stats``: Stats that rehash data (a bao finer than the stored one) running at
  once, in a pool of their own; more wait for a slot without holding a worker thread, at most
  ``expensive_wait`` seconds, then fail with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from baostore.grpc.rate import DEFAULT_SERVER_MIN_RATE, MAX_SECONDS, MinimumRate, StreamMeter
from baostore.grpc.services import DATA_MESSAGE_SIZE, MAX_MESSAGE_SIZE, Context
from baostore.sizes import GiB, KiB, MiB
from baostore.store.interface import Piece

DEFAULT_MAX_BLOB_SIZE = 16 * GiB  # its stored bao (shift 4) is 64 MiB, held in memory at close
DEFAULT_MAX_CONCURRENT_STREAMS = 256
DEFAULT_MAX_CONCURRENT_PUTS = 32
DEFAULT_IDLE_TIMEOUT = 120.0  # above the client's own 60 s, so a slow client gives up first
# Below the client's 30 s call timeout, so a waiting client hears why.
DEFAULT_PUT_SLOT_TIMEOUT = 20.0
# Rehashing is CPU-bound: about one per core; waiting longer than a client's own 30 s Stat
# deadline helps nobody.
DEFAULT_MAX_EXPENSIVE_STATS = 2
DEFAULT_EXPENSIVE_WAIT = 20.0
# Our clients send DATA_MESSAGE_SIZE messages: a smaller receive limit would refuse them.
MIN_MESSAGE_SIZE = DATA_MESSAGE_SIZE + 64 * KiB
MAX_MESSAGE_SIZE_LIMIT = 64 * MiB


@dataclass(frozen=True)
class ServerLimits:
    max_blob_size: int = DEFAULT_MAX_BLOB_SIZE
    max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS
    max_concurrent_puts: int = DEFAULT_MAX_CONCURRENT_PUTS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_message_size: int = MAX_MESSAGE_SIZE
    min_rate: MinimumRate = DEFAULT_SERVER_MIN_RATE
    put_slot_timeout: float = DEFAULT_PUT_SLOT_TIMEOUT
    max_expensive_stats: int = DEFAULT_MAX_EXPENSIVE_STATS
    expensive_wait: float = DEFAULT_EXPENSIVE_WAIT

    def __post_init__(self) -> None:
        if self.max_expensive_stats < 1:
            raise ValueError(f"max expensive stats must be >= 1, got {self.max_expensive_stats}")
        if not self.expensive_wait > 0:
            raise ValueError(f"expensive wait must be > 0 seconds, got {self.expensive_wait}")
        if self.max_blob_size < 0:
            raise ValueError(f"max blob size must be >= 0, got {self.max_blob_size}")
        if self.max_concurrent_streams < 1:
            raise ValueError(
                f"max concurrent streams must be >= 1, got {self.max_concurrent_streams}"
            )
        if self.max_concurrent_puts < 1:
            raise ValueError(f"max concurrent puts must be >= 1, got {self.max_concurrent_puts}")
        if not self.idle_timeout > 0:
            raise ValueError(f"idle timeout must be > 0 seconds, got {self.idle_timeout}")
        if not 0 < self.put_slot_timeout <= MAX_SECONDS:
            raise ValueError(
                f"Put slot timeout must be in (0, {MAX_SECONDS:g}] seconds, "
                f"got {self.put_slot_timeout}"
            )
        if not MIN_MESSAGE_SIZE <= self.max_message_size <= MAX_MESSAGE_SIZE_LIMIT:
            raise ValueError(
                f"max message size must be in {MIN_MESSAGE_SIZE}..{MAX_MESSAGE_SIZE_LIMIT} "
                f"bytes, got {self.max_message_size}"
            )

    def channel_options(self) -> tuple[tuple[str, int], ...]:
        return (
            ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
            ("grpc.max_receive_message_length", self.max_message_size),
        )

    def meter(self) -> StreamMeter:
        """The account of one stream under these limits."""
        return StreamMeter(self.idle_timeout, self.min_rate)


@contextlib.asynccontextmanager
async def bounded_slot(
    slots: asyncio.Semaphore, seconds: float, context: Context, busy: str
) -> AsyncIterator[None]:
    """Hold one of ``slots``; fail the call with RESOURCE_EXHAUSTED, saying ``busy``, when none
    came free within ``seconds`` (a waiting call must not wait forever, nor hold a thread)."""
    try:
        async with asyncio.timeout(seconds):
            await slots.acquire()
    except TimeoutError:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, busy)
    try:
        yield
    finally:
        slots.release()


async def guarded_put_stream(
    requests: AsyncIterator[Piece], limits: ServerLimits, context: Context
) -> AsyncIterator[Piece]:
    """``requests`` (the data of each BlobChunk) as they come, failing the call once it idles,
    drips (slower than the minimum rate) or exceeds the blob size.

    Only data counts as activity: a stream of empty messages is as idle as a silent one. Only
    time spent waiting for the client counts: not the time the store takes with what came.
    """
    received = 0
    iterator = aiter(requests)
    loop = asyncio.get_running_loop()
    meter = limits.meter()
    while True:
        meter.wait_started(loop.time())
        try:
            # asyncio.timeout, not wait_for: no extra task, so a cancelled call (the client
            # went away) still raises CancelledError here instead of ending the stream cleanly.
            async with asyncio.timeout_at(meter.deadline()):
                data = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            await _stalled(context, "Put", meter.stall(loop.time()))
        if data:
            await _stalled(context, "Put", meter.wait_ended(loop.time(), len(data)))
        received += len(data)
        if received > limits.max_blob_size:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"blob larger than this server's limit of {limits.max_blob_size} bytes",
            )
        yield data


async def write_within(context: Context, message: bytes, meter: StreamMeter) -> None:
    """Send one streamed message (encoded already); fail the call if the client takes nothing
    for too long, or takes it slower than the minimum rate (``meter``: the Read's account)."""
    loop = asyncio.get_running_loop()
    meter.wait_started(loop.time())
    try:
        async with asyncio.timeout_at(meter.deadline()):
            await context.write(message)
    except TimeoutError:
        await _stalled(context, "Read", meter.stall(loop.time()))
    await _stalled(context, "Read", meter.wait_ended(loop.time(), len(message)))


async def _stalled(context: Context, method: str, reason: str | None) -> None:
    """End the call with DEADLINE_EXCEEDED if the stream stalled (``reason`` says how)."""
    if reason is not None:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{method} stream {reason}")
