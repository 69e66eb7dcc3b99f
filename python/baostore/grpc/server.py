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
import contextlib
import functools
import logging
import secrets
import signal
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from baostore.errors import (
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
from baostore.grpc.limits import ServerLimits, bounded_slot, guarded_put_stream, write_within
from baostore.grpc.messages import decode_blob_chunk, encode_blob_chunk
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
from baostore.grpc.status import ERROR_ID_KEY, REQUEST_FAULTS, kind_of_error, status_of
from baostore.proto import blobstore_pb2
from baostore.sizes import KiB, MiB
from baostore.store.interface import (
    BlobStore,
    Piece,
    Stat,
    StatRequest,
    check_digest,
    close_pieces,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a Put whose request stream ended waits for a cancellation before it commits the blob
# (see BlobServicer._put): the two arrive together, a few event-loop turns apart.
CANCELLATION_SETTLE = 0.002
# How long in-flight calls may run on after a stop request before they are cancelled.
DEFAULT_SHUTDOWN_GRACE = 5.0
# gRPC binds with SO_REUSEPORT by default: a second server on a port in use would start, and the
# kernel would split the clients between the two. Off, the second one fails to bind.
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (("grpc.so_reuseport", 0),)
# A Read reads and encodes this much (or a piece more) per worker-thread hop, at most twice that
# ahead of the client: few hops, a few MiB of memory per Read.
READ_BATCH = 2 * MiB
# Pieces at least this big (chunks) share messages; smaller ones go alone (a store that cuts its
# stream finely, as a test's lying server does, is sent as it cut it).
SHARED_MESSAGE_PIECE = 64 * KiB


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
        response = stat_to_response(stat)
        if response.ByteSize() >= self.stat_limit:
            # Only a Stat without a range (a store answering for the whole blob) may not fit.
            fitted = await _store_call(context, fit_stat, stat, self.stat_limit)
            response = stat_to_response(fitted)
        return response

    async def _expensive_stat(
        self, context: Context, digest: bytes, asked: StatRequest
    ) -> Stat | None:
        """A Stat that may rehash data: it waits for a slot without a thread, at most
        ``limits.expensive_wait`` seconds, and runs in the expensive pool."""
        wait = self.limits.expensive_wait
        busy = (
            f"too many Stats that rehash data are running; none became free within {wait:g} s "
            "(try again, or ask for a coarser shift)"
        )
        async with bounded_slot(self._expensive_slots, wait, context, busy):
            return await _store_call(
                context, self.store.stat_request, digest, asked, executor=self._expensive_pool
            )

    async def read(self, request: blobstore_pb2.ReadBlobRequest, context: Context) -> None:
        """The blob's (or chunk's) stored bytes as BlobChunk messages encoded by hand around the
        store's buffers (one copy), read ahead in worker threads (``_ReadAhead``)."""
        digest = await _valid_digest(request.digest, context)
        pieces = await _store_call(context, self.store.read_views, digest)
        if pieces is None:
            await _not_found(context, digest)
        meter = self.limits.meter()
        ahead = _ReadAhead(pieces)
        try:
            while (message := await _store_result(context, ahead.next())) is not None:
                await write_within(context, message, meter)
        finally:
            ahead.close()

    async def put(
        self, requests: AsyncIterator[Piece], context: Context
    ) -> blobstore_pb2.PutBlobResponse:
        wait = self.limits.put_slot_timeout
        busy = f"server busy: no Put slot came free within {wait:g} s; try again later"
        async with bounded_slot(self._put_slots, wait, context, busy):
            return await self._put(requests, context)

    async def _put(
        self, requests: AsyncIterator[Piece], context: Context
    ) -> blobstore_pb2.PutBlobResponse:
        writer = await _store_call(context, self.store.open_write)
        # One store call (a write, then the close) runs in a thread while the next ~1 MiB is
        # received. Awaited shielded: cancelling the call must not abandon a thread that still
        # uses the writer.
        running: asyncio.Future[Any] | None = None
        try:
            async for batch in _batches(guarded_put_stream(requests, self.limits, context)):
                if running is not None:
                    await asyncio.shield(running)
                running = asyncio.ensure_future(_store_call(context, writer.write, batch))
            if running is not None:
                await asyncio.shield(running)
            # A client that cancels ends the request stream as a finished one does (grpc.aio),
            # and the cancellation follows at once: let it arrive before the blob is committed.
            await asyncio.sleep(CANCELLATION_SETTLE)
            running = asyncio.ensure_future(_store_call(context, writer.close))
            digest: bytes = await asyncio.shield(running)
        except BaseException:
            # Failed, aborted by the client or cancelled at shutdown: nothing may become visible.
            # The store call still running in its thread ends before the writer is aborted, and
            # the abort (it removes what the writer stored) runs to its end, in a thread.
            if running is not None:
                await _finished(running)
            await _finished(asyncio.ensure_future(asyncio.to_thread(writer.abort)))
            raise
        return blobstore_pb2.PutBlobResponse(digest=digest)


async def _finished(future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, whatever cancellations arrive meanwhile (the caller is
    already ending with an error of its own; its result or error is not wanted)."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved: not logged as "never retrieved"


class _ReadAhead:
    """A Read's pieces, read in worker threads ahead of the event loop, sent as messages.

    A thread hop reads up to READ_BATCH bytes (a hop per piece costs the loop about as much CPU
    as the data itself) and hands each piece over as soon as it is read (a store that stalls
    holds back nothing it gave), waking the loop only when it waits for them. A new hop starts
    while less than READ_BATCH bytes wait, so a Read holds at most twice that. A store failure
    is raised after every message before it.

    Messages follow the pieces, except that big ones (chunks of a blob) share messages of up to
    DATA_MESSAGE_SIZE: half as many messages as chunks of ~512 KiB, each made with one join, the
    only copy. A message is never held back for more: what is ready is sent when the loop is.
    """

    def __init__(self, pieces: Iterator[Piece]) -> None:
        self._pieces = pieces
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()  # guards _ready, _waiting, _done and _hungry
        self._ready: deque[Piece] = deque()
        self._waiting = 0  # bytes in _ready
        self._done: Exception | bool = False  # True: the pieces ended; an exception: failed
        self._hungry = False  # the loop waits for _arrived
        self._arrived = asyncio.Event()
        self._reading = False
        self._closed = False

    async def next(self) -> bytes | None:
        """The next message; None once the pieces ended."""
        while True:
            with self._lock:
                if self._ready:
                    data = self._take()
                    break
                if isinstance(self._done, Exception):
                    raise self._done
                if self._done:
                    return None
                self._hungry = True
                self._arrived.clear()
            self._read_more()
            await self._arrived.wait()
        self._read_more()
        return encode_blob_chunk(data)

    def _take(self) -> list[Piece]:
        """(Under the lock.) The data of the next message: a small piece alone, or big pieces
        up to DATA_MESSAGE_SIZE (the last one cut if it does not fit)."""
        ready = self._ready
        if len(ready[0]) < SHARED_MESSAGE_PIECE:
            data = [ready.popleft()]
        else:
            data = []
            room = DATA_MESSAGE_SIZE
            while ready and room and len(ready[0]) >= SHARED_MESSAGE_PIECE:
                piece = ready[0]
                if len(piece) <= room:
                    data.append(ready.popleft())
                    room -= len(piece)
                else:
                    view = memoryview(piece)
                    data.append(view[:room])
                    ready[0] = view[room:]
                    room = 0
        self._waiting -= sum(len(piece) for piece in data)
        return data

    def close(self) -> None:
        """Stop reading: a hop in flight stops after its piece and closes the pieces."""
        self._closed = True
        if not self._reading:
            close_pieces(self._pieces)

    def _read_more(self) -> None:
        with self._lock:
            if self._reading or self._done is not False or self._waiting >= READ_BATCH:
                return
            self._reading = True
        hop = asyncio.ensure_future(asyncio.to_thread(self._read_batch))
        hop.add_done_callback(self._hop_done)

    def _read_batch(self) -> None:
        """In a worker thread: read READ_BATCH bytes of pieces or to their end."""
        gathered = 0
        while gathered < READ_BATCH and not self._closed:
            try:
                piece = next(self._pieces, None)
            except Exception as error:
                self._hand_over(None, error)
                return
            if piece is None:
                self._hand_over(None, True)
                return
            if piece:
                self._hand_over(piece, False)
            gathered += len(piece)

    def _hand_over(self, piece: Piece | None, done: Exception | bool) -> None:
        """(In the worker thread.) A piece ready, or the end of the pieces; the loop is woken
        only if it waits."""
        with self._lock:
            if piece is not None:
                self._ready.append(piece)
                self._waiting += len(piece)
            self._done = done
            wake, self._hungry = self._hungry, False
        if wake:
            self._loop.call_soon_threadsafe(self._arrived.set)

    def _hop_done(self, hop: asyncio.Future[None]) -> None:
        self._reading = False
        if self._closed:
            close_pieces(self._pieces)
            return
        if not hop.cancelled() and (failure := hop.exception()) is not None:
            with self._lock:
                self._done = StoreError(f"reading failed: {failure}")
        self._read_more()
        self._arrived.set()


async def _batches(requests: AsyncIterator[Piece]) -> AsyncIterator[Piece]:
    """The received bytes in pieces of at least ~1 MiB (the last may be smaller).

    Small messages are gathered so the store sees few, large writes (one thread hop each);
    messages that are big enough already pass through without a copy.
    """
    pending = bytearray()
    async for data in requests:
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
    if executor is None:
        return await _store_result(context, asyncio.to_thread(function, *args, **kwargs))
    loop = asyncio.get_running_loop()
    running = loop.run_in_executor(executor, functools.partial(function, *args, **kwargs))
    return await _store_result(context, running)


async def _store_result(context: Context, running: Awaitable[T]) -> T:
    """What a store call running in a thread returns; its failure ends the call (see
    ``_store_call``)."""
    try:
        return await running
    except Exception as error:
        await _abort(context, error)


async def _abort(context: Context, error: Exception) -> NoReturn:
    """End the call with the status of ``error``'s kind. A fault of the client's request is told
    in its own words; of any other failure the client learns the kind and an error id, and the
    log gets the detail under the same id (see grpc.status.REQUEST_FAULTS)."""
    kind = kind_of_error(error)
    if kind in REQUEST_FAULTS:
        await context.abort(status_of(error), str(error) or type(error).__name__)
    error_id = secrets.token_hex(8)
    if isinstance(error, StoreError):
        log.warning("error id %s: %s: %s", error_id, kind.value, error)
    else:
        log.error("error id %s: store call failed", error_id, exc_info=error)
    await context.abort(
        status_of(error),
        f"server error ({kind.value}); the server log has error id {error_id}",
        trailing_metadata=((ERROR_ID_KEY, error_id),),
    )


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
            response_serializer=None,  # messages are encoded BlobChunks already (encode_blob_chunk)
        ),
        "Put": grpc.stream_unary_rpc_method_handler(
            servicer.put,
            request_deserializer=decode_blob_chunk,
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


def _bind_failure(target: str) -> str | None:
    """Why ``HOST:PORT`` cannot be bound ("Address already in use", ...), asked of the kernel
    with a socket of our own: gRPC's error says only that binding failed."""
    if target.startswith("unix:"):
        return None
    host, _, port = target.rpartition(":")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except OSError as error:
        return str(error)
    for family, kind, protocol, _, address in infos:
        with socket.socket(family, kind, protocol) as probe:
            try:
                probe.bind(address)
            except OSError as error:
                return error.strerror or str(error)
    return None


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
        options=(*limits.channel_options(), *SERVER_OPTIONS),
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
        raise OSError(f"cannot listen on {listen}: {_bind_failure(target) or error}") from error
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
