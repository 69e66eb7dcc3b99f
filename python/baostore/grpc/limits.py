"""Server limits: blob size, concurrent calls, idle streams and received message size.

* ``max_blob_size``: a Put stream that delivers more fails with RESOURCE_EXHAUSTED; the
  servicer then aborts its writer, so nothing of it becomes visible.
* ``max_concurrent_streams``: calls in progress at once (all methods, health included); gRPC
  refuses the next one with RESOURCE_EXHAUSTED.
* ``max_concurrent_puts``: Puts stored at once; more wait their turn (not refused, their data
  held back by flow control). A Put holds at most a maximum chunk plus the cut window plus the
  chunks in flight (~18 MiB with the default chunk sizes), so this bounds the server's memory.
* ``idle_timeout``: a Put whose next message does not arrive, or a Read whose next message the
  client does not take, within this many seconds fails with DEADLINE_EXCEEDED.
* ``max_message_size``: the largest message the server accepts (gRPC answers
  RESOURCE_EXHAUSTED beyond it). What the server sends stays under the protocol's 4 MiB.
* ``max_expensive_stats``: Stats that rehash data (a bao finer than the stored one) running at
  once, in a pool of their own; more wait for a slot without holding a worker thread, at most
  ``expensive_wait`` seconds, then fail with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from baostore.grpc.services import DATA_MESSAGE_SIZE, MAX_MESSAGE_SIZE, Context
from baostore.proto import blobstore_pb2
from baostore.sizes import GiB, KiB, MiB

DEFAULT_MAX_BLOB_SIZE = 16 * GiB  # its stored bao (shift 4) is 64 MiB, held in memory at close
DEFAULT_MAX_CONCURRENT_STREAMS = 256
DEFAULT_MAX_CONCURRENT_PUTS = 32
DEFAULT_IDLE_TIMEOUT = 120.0  # above the client's own 60 s, so a slow client gives up first
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


async def guarded_put_stream(
    requests: AsyncIterator[blobstore_pb2.BlobChunk], limits: ServerLimits, context: Context
) -> AsyncIterator[blobstore_pb2.BlobChunk]:
    """``requests`` as they come, failing the call once it idles or exceeds the blob size.

    Only data counts as activity: a stream of empty messages is as idle as a silent one.
    """
    received = 0
    iterator = aiter(requests)
    loop = asyncio.get_running_loop()
    idle_deadline = loop.time() + limits.idle_timeout
    while True:
        try:
            # asyncio.timeout, not wait_for: no extra task, so a cancelled call (the client
            # went away) still raises CancelledError here instead of ending the stream cleanly.
            async with asyncio.timeout_at(idle_deadline):
                message = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Put stream idle: no data for {limits.idle_timeout:g} s",
            )
        if message.data:
            idle_deadline = loop.time() + limits.idle_timeout
        received += len(message.data)
        if received > limits.max_blob_size:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"blob larger than this server's limit of {limits.max_blob_size} bytes",
            )
        yield message


async def write_within(context: Context, message: Any, limits: ServerLimits) -> None:
    """Send one streamed message; fail the call if the client takes nothing for too long."""
    try:
        async with asyncio.timeout(limits.idle_timeout):
            await context.write(message)
    except TimeoutError:
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"Read stream idle: the client took no data for {limits.idle_timeout:g} s",
        )
