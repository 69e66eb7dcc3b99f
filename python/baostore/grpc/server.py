"""The BlobService gRPC server: a thin grpc.aio adapter over any BlobStore.

Stores are synchronous, so every store call runs in a worker thread (``asyncio.to_thread``) and
the event loop only moves messages. Data moves in ~1 MiB messages in both directions, so memory
per stream stays bounded whatever the blob size.

A Stat the store calls expensive (``BlobStore.expensive``: a bao finer than the stored one means
rehashing data) waits for one of a few slots in the event loop, holding no thread, for a bounded
time (then RESOURCE_EXHAUSTED), and runs in a small pool of its own: any number of them leave the
shared worker threads to cheap calls (Stats, Reads, Puts).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from baostore.errors import (
    ErrorKind,
    InvalidDigestError,
    InvalidRequestError,
    NotFoundError,
    StoreError,
)
from baostore.grpc.convert import (
    fit_stat,
    format_from_proto,
    range_from_message,
    stat_to_response,
)
from baostore.grpc.decoding import DecodeGuard
from baostore.grpc.limits import ServerLimits, guarded_put_stream, write_within
from baostore.grpc.observe import CallObserver
from baostore.grpc.security import ServerSecurity
from baostore.grpc.services import (
    DATA_MESSAGE_SIZE,
    MAX_INLINE_SIZE,
    MAX_MESSAGE_SIZE,
    SERVICE_NAMES,
    Context,
    register_alias_descriptors,
)
from baostore.grpc.status import status_of
from baostore.proto import blobstore_pb2
from baostore.store.interface import BlobStore, Stat, StatRequest, check_digest, close_pieces

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long in-flight calls may run on after a stop request before they are cancelled.
DEFAULT_SHUTDOWN_GRACE = 5.0


class BlobServicer:
    """The three BlobService methods over ``store``."""

    def __init__(
        self,
        store: BlobStore,
        *,
        stat_limit: int = MAX_MESSAGE_SIZE,
        limits: ServerLimits | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or ServerLimits()
        # Each Put holds a writer's buffers (~18 MiB at most): Puts beyond this many wait.
        self._put_slots = asyncio.Semaphore(self.limits.max_concurrent_puts)
        # Expensive Stats wait here (no thread held) and run in their own pool.
        self._expensive_slots = asyncio.Semaphore(self.limits.max_expensive_stats)
        self._expensive_pool = ThreadPoolExecutor(
            self.limits.max_expensive_stats, thread_name_prefix="baostore-expensive"
        )
        # Stat answers are fitted below this many bytes (a parameter so tests can lower it).
        self.stat_limit = stat_limit

    async def stat(
        self, request: blobstore_pb2.StatBlobRequest, context: Context
    ) -> blobstore_pb2.StatBlobResponse:
        digest = await _valid_digest(request.digest, context)
        try:
            asked = StatRequest(
                send_chunks=request.send_chunks,
                send_bao=request.send_bao,
                bao_shift=request.bao_shift if request.HasField("bao_shift") else None,
                bao_format=format_from_proto(request.bao_format),
                inline_limit=min(request.inline_limit, MAX_INLINE_SIZE),
                range=range_from_message(request),
                answer_limit=self.stat_limit,
            ).checked()
        except ValueError as error:
            await _abort(context, InvalidRequestError(str(error)))
        if self.store.expensive(asked):
            stat = await self._expensive_stat(context, digest, asked)
        else:
            stat = await _store_call(context, self.store.stat_request, digest, asked)
        if stat is None:
            await _not_found(context, digest)
        fitted = await _store_call(context, fit_stat, stat, self.stat_limit)
        return stat_to_response(fitted)

    async def _expensive_stat(
        self, context: Context, digest: bytes, asked: StatRequest
    ) -> Stat | None:
        """A Stat that may rehash data: it waits for a slot without a thread, at most
        ``limits.expensive_wait`` seconds, and runs in the expensive pool."""
        try:
            async with asyncio.timeout(self.limits.expensive_wait):
                await self._expensive_slots.acquire()
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many Stats that rehash data are running; none became free within "
                f"{self.limits.expensive_wait:g} s (try again, or ask for a coarser shift)",
            )
        try:
            return await _store_call(
                context, self.store.stat_request, digest, asked, executor=self._expensive_pool
            )
        finally:
            self._expensive_slots.release()

    async def read(self, request: blobstore_pb2.ReadBlobRequest, context: Context) -> None:
        digest = await _valid_digest(request.digest, context)
        pieces = await _store_call(context, self.store.read_raw, digest)
        if pieces is None:
            await _not_found(context, digest)
        try:
            while (piece := await _store_call(context, next, pieces, None)) is not None:
                for start in range(0, len(piece), DATA_MESSAGE_SIZE):
                    message = blobstore_pb2.BlobChunk(data=piece[start : start + DATA_MESSAGE_SIZE])
                    await write_within(context, message, self.limits)
        finally:
            close_pieces(pieces)

    async def put(
        self, requests: AsyncIterator[blobstore_pb2.BlobChunk], context: Context
    ) -> blobstore_pb2.PutBlobResponse:
        async with self._put_slots:
            return await self._put(requests, context)

    async def _put(
        self, requests: AsyncIterator[blobstore_pb2.BlobChunk], context: Context
    ) -> blobstore_pb2.PutBlobResponse:
        writer = await _store_call(context, self.store.open_write)
        # One store write runs in a thread while the next ~1 MiB is being received.
        in_flight: asyncio.Future[int] | None = None
        try:
            async for batch in _batches(guarded_put_stream(requests, self.limits, context)):
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(_store_call(context, writer.write, batch))
            if in_flight is not None:
                await in_flight
            digest = await _store_call(context, writer.close)
        except BaseException:
            # Failed, aborted by the client or cancelled at shutdown: nothing may become visible.
            # A write still running in its thread must end before the writer is aborted.
            if in_flight is not None and not in_flight.done():
                await asyncio.wait([in_flight])
            writer.abort()
            raise
        return blobstore_pb2.PutBlobResponse(digest=digest)


async def _batches(requests: AsyncIterator[blobstore_pb2.BlobChunk]) -> AsyncIterator[bytes]:
    """The received bytes in pieces of at least ~1 MiB (the last may be smaller).

    Small messages are gathered so the store sees few, large writes (one thread hop each);
    messages that are big enough already pass through without a copy.
    """
    pending = bytearray()
    async for message in requests:
        data = message.data
        if not pending and len(data) >= DATA_MESSAGE_SIZE:
            yield data
            continue
        pending += data
        if len(pending) >= DATA_MESSAGE_SIZE:
            yield bytes(pending)
            pending = bytearray()
    if pending:
        yield bytes(pending)


async def _valid_digest(digest: bytes, context: Context) -> bytes:
    try:
        return check_digest(digest)
    except InvalidDigestError as error:
        await _abort(context, error)


async def _not_found(context: Context, digest: bytes) -> NoReturn:
    await _abort(context, NotFoundError(f"blob {digest.hex()} not found"))


async def _store_call(
    context: Context,
    function: Callable[..., T],
    *args: Any,
    executor: ThreadPoolExecutor | None = None,
    **kwargs: Any,
) -> T:
    """Run a blocking store call in a thread (of ``executor``, else the shared workers); a
    failure ends the call with the status of its kind (baostore.grpc.status). Only a request the
    store refused as invalid is the client's fault: any other failure, a plain ValueError of a
    broken store included, is INTERNAL."""
    try:
        if executor is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(function, *args, **kwargs))
    except StoreError as error:
        if error.kind not in (ErrorKind.INVALID_REQUEST, ErrorKind.NOT_FOUND):
            log.warning("store error: %s", error)
        await _abort(context, error)
    except Exception as error:
        log.exception("store call failed")
        await _abort(context, error)


async def _abort(context: Context, error: Exception) -> NoReturn:
    """End the call with the status of ``error``'s kind, its text as the details."""
    await context.abort(status_of(error), str(error) or type(error).__name__)


def generic_handlers(servicer: BlobServicer) -> list[grpc.GenericRpcHandler[Any, Any]]:
    """The BlobService methods registered under every service name we answer to."""
    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Stat": grpc.unary_unary_rpc_method_handler(
            servicer.stat,
            request_deserializer=blobstore_pb2.StatBlobRequest.FromString,
            response_serializer=blobstore_pb2.StatBlobResponse.SerializeToString,
        ),
        "Read": grpc.unary_stream_rpc_method_handler(
            servicer.read,
            request_deserializer=blobstore_pb2.ReadBlobRequest.FromString,
            response_serializer=blobstore_pb2.BlobChunk.SerializeToString,
        ),
        "Put": grpc.stream_unary_rpc_method_handler(
            servicer.put,
            request_deserializer=blobstore_pb2.BlobChunk.FromString,
            response_serializer=blobstore_pb2.PutBlobResponse.SerializeToString,
        ),
    }
    return [grpc.method_handlers_generic_handler(name, methods) for name in SERVICE_NAMES]


def _listen_target(listen: str) -> str:
    """The gRPC bind address for ``HOST:PORT``, ``[V6]:PORT`` or ``unix:/path``."""
    if listen.startswith("unix:"):
        if not listen.removeprefix("unix:").lstrip("/"):
            raise ValueError(f"listen address {listen!r} names no socket path")
        return listen
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen address {listen!r} is not HOST:PORT or unix:/PATH")
    return listen


@dataclass
class RunningServer:
    """A started server: ``address`` is where it listens (the real port when 0 was asked)."""

    server: aio.Server
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped in grpc-stubs)
    address: str

    async def stop(self, grace: float = DEFAULT_SHUTDOWN_GRACE) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish for ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_server(
    store: BlobStore,
    listen: str,
    *,
    stat_limit: int = MAX_MESSAGE_SIZE,
    security: ServerSecurity | None = None,
    limits: ServerLimits | None = None,
) -> RunningServer:
    """Start serving ``store`` on ``listen`` (``HOST:PORT`` or ``unix:/PATH``).

    Without TLS, ``listen`` must be a loopback address or a unix socket unless ``security``
    says otherwise (``insecure_listen``).
    """
    security = security or ServerSecurity()
    limits = limits or ServerLimits()
    target = _listen_target(listen)
    security.check_listen(target)
    register_alias_descriptors()
    server = aio.server(
        options=limits.channel_options(),
        # Every call is logged and counted (outermost: refused ones too); tokens are checked
        # before anything is decoded; bad bytes get INVALID_ARGUMENT.
        interceptors=[CallObserver(), *security.interceptors(), DecodeGuard()],
        maximum_concurrent_rpcs=limits.max_concurrent_streams,
    )
    servicer = BlobServicer(store, stat_limit=stat_limit, limits=limits)
    server.add_generic_rpc_handlers(generic_handlers(servicer))

    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        if security.tls is None:
            port = server.add_insecure_port(target)
        else:
            port = server.add_secure_port(target, security.tls.credentials())
    except RuntimeError as error:
        raise OSError(f"cannot listen on {listen}: {error}") from error
    if port == 0 and not target.startswith("unix:"):
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, serving)
    address = target if target.startswith("unix:") else f"{target.rpartition(':')[0]}:{port}"
    return RunningServer(server=server, health=health_servicer, address=address)


async def serve(
    store: BlobStore,
    listen: str,
    *,
    grace: float = DEFAULT_SHUTDOWN_GRACE,
    on_started: Callable[[str], Awaitable[None] | None] | None = None,
    security: ServerSecurity | None = None,
    limits: ServerLimits | None = None,
) -> None:
    """Serve ``store`` until SIGTERM or SIGINT, then shut down gracefully."""
    running = await start_server(store, listen, security=security, limits=limits)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        if on_started is not None:
            started = on_started(running.address)
            if started is not None:
                await started
        await stop_requested.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await running.stop(grace)
