"""GrpcBlobStore: a BlobStore that is a BlobService server somewhere else.

A remote store that is not trusted: ``open_read`` returns a VerifiedReader (baostore.verify)
that checks every byte against the digest before handing it on, asking Stat for the bao at the
shift and format of ``read_options`` and reading chunks (or chunks from ``cache``, when set).

Every unary call carries a deadline. Streams may run as long as data keeps moving: a watchdog
cancels a Read that receives nothing for ``idle_timeout`` seconds or less than the minimum rate
(``min_rate``: bytes per window of waiting, see rate.py), and a Put whose messages the server
does not take that fast fails: a server dripping a byte now and then is stalled, not slow.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import grpc
from typing_extensions import Buffer

from baostore import bao
from baostore.errors import (
    ErrorKind,
    NotFoundError,
    StalledError,
    StoreError,
    UnsupportedError,
    VerificationError,
    error_of_kind,
    printable,
)
from baostore.grpc.convert import response_to_stat, stat_request_message
from baostore.grpc.messages import decode_blob_chunk, encode_blob_chunks
from baostore.grpc.rate import DEFAULT_CLIENT_MIN_RATE, MinimumRate, StreamMeter
from baostore.grpc.security import ClientSecurity
from baostore.grpc.services import (
    BAOSTORE_SERVICE,
    CHANNEL_OPTIONS,
    DATA_MESSAGE_SIZE,
    method_path,
)
from baostore.grpc.status import ERROR_ID_KEY, kind_of
from baostore.grpc.transport import unavailable_message
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc
from baostore.store.interface import (
    DEFAULT_BAO_SHIFT,
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    Piece,
    Stat,
    StatRequest,
    as_bytes,
    check_digest,
)
from baostore.store.urls import UrlOptions
from baostore.verify import ReadOptions, open_verified

DEFAULT_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 60.0
# What a gRPC store URL's query may set besides access (security.py): the bao of verified reads.
READ_URL_OPTIONS = ("bao_shift", "bao_format")
# Put messages waiting for the channel: bounds the client's memory to a few MiB.
_PUT_QUEUE_DEPTH = 4
# How often a Put waiting for room in its queue looks at the call and its meter.
_PUT_POLL_SECONDS = 0.2
_END_OF_PUT = None


class GrpcBlobStore(BlobStore):
    """A BlobStore over the BlobService protocol at ``target`` (a gRPC target string)."""

    def __init__(
        self,
        target: str,
        *,
        display: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        min_rate: MinimumRate = DEFAULT_CLIENT_MIN_RATE,
        read_options: ReadOptions | None = None,
        cache: BlobStore | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        self.target = target
        # How open_read asks for the bao and fetches chunks; cache: a trusted local chunk store.
        self.read_options = read_options or ReadOptions()
        self.cache = cache
        self.display = display or target
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.min_rate = min_rate
        # TLS and the bearer token, when the URL or the environment asks for them.
        security = security or ClientSecurity()
        self.tls = security.tls
        self._channel = security.channel(target, CHANNEL_OPTIONS)
        self._stub = blobstore_pb2_grpc.BlobServiceStub(self._channel)
        # Read and Put with BlobChunk messages decoded (as views) and encoded by hand: the stub's
        # protobuf objects copy each message twice more.
        self._put = self._channel.stream_unary(
            method_path(BAOSTORE_SERVICE, "Put"),
            request_serializer=None,  # encoded BlobChunks already (encode_blob_chunks)
            response_deserializer=blobstore_pb2.PutBlobResponse.FromString,
        )
        self._read = self._channel.unary_stream(
            method_path(BAOSTORE_SERVICE, "Read"),
            request_serializer=blobstore_pb2.ReadBlobRequest.SerializeToString,
            response_deserializer=decode_blob_chunk,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        min_rate: MinimumRate | None = None,
    ) -> GrpcBlobStore:
        """Open ``grpc+http://HOST:PORT``, ``grpc+https://HOST:PORT`` or ``grpc+unix:///PATH``.

        The query may set the bao verified reads ask for: ``?bao_shift=N&bao_format=F``, and
        access (see security.py): ``token_file=PATH``, for https also ``ca=``, ``cert=``, ``key=``.
        ``timeout``, ``idle_timeout`` and ``min_rate`` (None: the defaults) are the store's time
        limits.
        """
        parts = urlsplit(url)
        # Empty userinfo ("grpc+http://@host:1") counts: it would end up in the channel target.
        if parts.fragment or parts.username is not None or parts.password is not None:
            raise ValueError(f"{url}: gRPC store URLs take no fragment or user")
        tls = parts.scheme == "grpc+https"
        options = UrlOptions(url)
        options.refuse_unknown((*READ_URL_OPTIONS, *ClientSecurity.url_options(tls=tls)))
        shift = options.take_shift()
        read_options = ReadOptions(
            bao_shift=DEFAULT_BAO_SHIFT if shift is None else shift,
            bao_format=options.take_format() or "pre_order",
        )
        target = _channel_target(url)
        return cls(
            target,
            display=url,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            idle_timeout=DEFAULT_IDLE_TIMEOUT if idle_timeout is None else idle_timeout,
            min_rate=DEFAULT_CLIENT_MIN_RATE if min_rate is None else min_rate,
            read_options=read_options,
            security=ClientSecurity.from_url_options(options, tls=tls),
        )

    def has(self, digest: bytes) -> bool:
        request = StatRequest(send_chunks=False, send_bao=False)
        return self.stat_request(check_digest(digest), request) is not None

    def stat_request(self, digest: bytes, request: StatRequest) -> Stat | None:
        message = stat_request_message(digest, request)
        try:
            response = self._stub.Stat(message, timeout=self.timeout)
        except grpc.RpcError as error:
            if kind_of(error.code()) is ErrorKind.NOT_FOUND:
                return None
            raise self._error(error, "Stat") from None
        try:
            return response_to_stat(response)
        except ValueError as error:
            raise StoreError(f"{self.display} answered Stat with {error}") from None

    def open_read(self, digest: bytes) -> BlobReader | None:
        """The blob, verified against ``digest`` as it is read (VerificationError on a lie)."""
        reader = open_verified(self, digest, self.read_options, cache=self.cache)
        return reader

    def read_raw(self, digest: bytes) -> Iterator[bytes] | None:
        """The Read stream of a blob or chunk (unverified), or None if the server lacks it."""
        views = self.read_views(digest)
        return None if views is None else as_bytes(views)

    def read_views(self, digest: bytes) -> ReadStream | None:
        """``read_raw`` with each message's data as a view of the bytes gRPC received (no
        copy); None if the server lacks the blob."""
        digest = check_digest(digest)
        call = self._read(blobstore_pb2.ReadBlobRequest(digest=digest))
        stream = ReadStream(self, call, _ReadWatchdog(call, self._meter()))
        try:
            first = next(stream, None)
        except NotFoundError:
            return None
        if first is not None:
            stream.push_back(first)
        return stream

    def _meter(self) -> StreamMeter:
        """The account of one stream under this store's idle timeout and minimum rate."""
        return StreamMeter(self.idle_timeout, self.min_rate)

    def _stalled(self, what: str, reason: str) -> StalledError:
        return StalledError(f"{what} {self.display} stalled: {reason}")

    def open_write(self) -> BlobWriter:
        return GrpcBlobWriter(self)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcBlobStore:
        return self

    def _error(
        self, error: grpc.RpcError, method: str, watchdog: _ReadWatchdog | None = None
    ) -> StoreError:
        """The store error for a failed call: of the kind its status code stands for."""
        if watchdog is not None and watchdog.reason is not None:
            return self._stalled(f"{method} from", watchdog.reason)
        code = error.code()
        # A server's text is shown to people and logged: it must not carry terminal controls.
        details = printable(error.details() or code.name)
        kind = kind_of(code)
        if _server_error_id(error) is not None:
            # The server was reached and failed by itself: its text names the kind and the id.
            message = f"{method} at {self.display} failed ({code.name}): {details}"
        elif kind is ErrorKind.INVALID_REQUEST:
            message = f"{self.display} rejected {method}: {details}"
        elif kind is ErrorKind.UNAVAILABLE:
            message = unavailable_message(details, self.display, method, tls=self.tls)
        elif kind is ErrorKind.STALLED:
            message = f"server at {self.display} did not answer {method} within {self.timeout:g} s"
        else:
            message = f"{method} at {self.display} failed ({code.name}): {details}"
        return error_of_kind(kind, message)

    def list_blobs(self) -> Iterator[BlobEntry]:
        raise UnsupportedError(
            f"{self.display}: the BlobService protocol has no call that lists blobs; "
            "list them where the server's store is (baostore ls --store URL of that store)"
        )

    def remove(self, digest: bytes) -> bool:
        raise UnsupportedError(
            f"{self.display}: the BlobService protocol has no call that removes blobs; "
            "remove them where the server's store is (baostore rm --store URL of that store)"
        )

    def __repr__(self) -> str:
        return f"GrpcBlobStore({self.display!r})"


def _channel_target(url: str) -> str:
    """The gRPC target a store URL names: ``HOST:PORT``, or ``unix:///PATH``."""
    parts = urlsplit(url)
    if parts.scheme in ("grpc+http", "grpc+https"):
        if not parts.hostname or parts.port is None:
            raise ValueError(f"{url}: expected {parts.scheme}://HOST:PORT")
        if parts.path not in ("", "/"):
            raise ValueError(f"{url}: a {parts.scheme}:// URL takes no path")
        return parts.netloc
    if parts.scheme == "grpc+unix":
        if parts.netloc:
            raise ValueError(f"{url}: expected grpc+unix:///ABSOLUTE/PATH (three slashes)")
        if not parts.path.startswith("/") or parts.path == "/":
            raise ValueError(f"{url}: expected grpc+unix:///ABSOLUTE/PATH")
        return f"unix://{unquote(parts.path)}"
    raise ValueError(f"{url}: not a gRPC store URL (grpc+http://, grpc+https://, grpc+unix://)")


def _server_error_id(error: grpc.RpcError) -> str | None:
    """The id under which the server logged a failure of its own, if it sent one."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == ERROR_ID_KEY:
            return str(value)
    return None


def _cancel(call: grpc.RpcContext | grpc.Future[Any]) -> None:
    """Cancel a call (a no-op once it ended)."""
    call.cancel()


class ReadStream:
    """The pieces of one Read call: the data of each message as it arrives (views of the
    received bytes), empty messages skipped, each wait under the watchdog (idle, or slower than
    the minimum rate: StalledError). Only data is progress: a server sending empty messages
    forever does not keep a Read alive. ``close`` (from any thread) cancels the call, so a
    reader that has what it wanted ends it at once."""

    def __init__(
        self, store: GrpcBlobStore, call: grpc.CallIterator[Piece], watchdog: _ReadWatchdog
    ) -> None:
        self._store = store
        self._call = call
        self._messages: Iterator[Piece] = iter(call)
        self._watchdog = watchdog
        self._pushed: Piece | None = None

    def __iter__(self) -> ReadStream:
        return self

    def __next__(self) -> Piece:
        if self._pushed is not None:
            piece, self._pushed = self._pushed, None
            return piece
        try:
            while True:
                self._watchdog.waiting()
                data = next(self._messages)
                if data:
                    reason = self._watchdog.received(len(data))
                    if reason is not None:
                        raise self._store._stalled("Read from", reason)
                    return data
        except StopIteration:
            self.close()
            raise
        except grpc.RpcError as error:
            self.close()
            raise self._store._error(error, "Read", self._watchdog) from None
        except BaseException:
            self.close()
            raise

    def next_within(self, seconds: float) -> Piece | None:
        """The next piece, or None when the call ended, or sent nothing for about ``seconds``
        (it is then cancelled): how a reader that has all the bytes it expects ends a call that
        the server may never end."""
        if self._pushed is not None:
            return next(self)
        self._watchdog.end_within(seconds)
        try:
            return next(self, None)
        except StalledError:
            if self._watchdog.cut:
                return None
            raise

    def push_back(self, piece: Piece) -> None:
        """Hand ``piece`` out again first (the one read to see whether the blob exists)."""
        self._pushed = piece

    def close(self) -> None:
        """Stop the watchdog and cancel the call (a no-op once it ended)."""
        self._watchdog.stop()
        _cancel(self._call)

    def __del__(self) -> None:
        self.close()


class GrpcBlobWriter(BlobWriter):
    """A Put stream fed by ``write``: ~1 MiB messages through a short queue (bounded memory)."""

    def __init__(self, store: GrpcBlobStore) -> None:
        self._store = store
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_PUT_QUEUE_DEPTH)
        self._pending = bytearray()
        self._finished = False
        # Bytes the server took (gRPC's thread counts them) and those the meter has seen.
        self._taken = 0
        self._counted = 0
        self._meter = store._meter()
        # The server's answer is not trusted: the digest is checked against what was sent.
        self._hasher = bao.Hasher()
        self._future = store._put.future(self._messages())

    def _messages(self) -> Iterator[bytes]:
        """The request stream gRPC consumes in its own thread.

        A writer left neither closed nor aborted would keep the call open forever: after
        ``idle_timeout`` without data the stream fails, which cancels the call, so the server
        discards what it received instead of storing a truncated blob.
        """
        while True:
            try:
                data = self._queue.get(timeout=self._store.idle_timeout)
            except queue.Empty:
                raise StalledError("Put abandoned: no data and no close() in time") from None
            if data is _END_OF_PUT:
                return
            self._taken += len(data)
            yield data  # an encoded BlobChunk

    def write(self, data: Buffer) -> int:
        self._check_writable()
        view = memoryview(data).cast("B")
        written = len(view)
        self._hasher.update(view)
        if self._pending:
            fill = DATA_MESSAGE_SIZE - len(self._pending)
            self._pending += view[:fill]
            view = view[fill:]
            if len(self._pending) < DATA_MESSAGE_SIZE:
                return written
            self._send_data(self._pending)
            self._pending = bytearray()
        while len(view) >= DATA_MESSAGE_SIZE:
            self._send_data(view[:DATA_MESSAGE_SIZE])
            view = view[DATA_MESSAGE_SIZE:]
        self._pending += view
        return written

    def close(self) -> bytes:
        self._check_writable()
        if self._pending:
            self._send_data(self._pending)
            self._pending.clear()
        self._send(_END_OF_PUT)
        self._finished = True
        try:
            response = self._future.result(timeout=self._store.timeout)
        except grpc.FutureTimeoutError:
            _cancel(self._future)
            raise StalledError(
                f"server at {self._store.display} did not confirm Put within "
                f"{self._store.timeout:g} s"
            ) from None
        except grpc.RpcError as error:
            raise self._store._error(error, "Put") from None
        digest = check_digest(response.digest)
        if digest != self._hasher.digest():
            raise VerificationError(
                f"server at {self._store.display} answered Put with digest {digest.hex()}, "
                f"but the {self._hasher.size} bytes sent hash to {self._hasher.digest().hex()}"
            )
        return digest

    def abort(self) -> None:
        self._finished = True
        _cancel(self._future)

    def _check_writable(self) -> None:
        if self._finished:
            raise ValueError("write to a closed or aborted blob writer")

    def _send_data(self, data: Buffer) -> None:
        """Queue ``data`` as encoded BlobChunk messages (made with one copy of it)."""
        for message in encode_blob_chunks(data):
            self._send(message)

    def _send(self, data: bytes | None) -> None:
        """Queue a message; fail if the call ended, or if the server takes nothing for too long
        or takes it slower than the minimum rate (only time waiting for the queue counts)."""
        meter = self._meter
        meter.wait_started(time.monotonic())
        while True:
            if self._future.done():
                self._finished = True
                self._raise_call_error()
            try:
                self._queue.put(data, timeout=_PUT_POLL_SECONDS)
            except queue.Full:
                self._check_stall(meter.stall(time.monotonic()))
                continue
            taken, self._counted = self._taken - self._counted, self._taken
            self._check_stall(meter.wait_ended(time.monotonic(), taken))
            return

    def _check_stall(self, reason: str | None) -> None:
        if reason is not None:
            self.abort()
            raise self._store._stalled("Put to", reason)

    def _raise_call_error(self) -> None:
        try:
            self._future.result(timeout=0)
        except grpc.RpcError as error:
            raise self._store._error(error, "Put") from None
        raise StoreError(f"Put to {self._store.display} ended before the data was sent")


# How often a Read waiting for its end (``end_within``) is checked.
END_POLL_INTERVAL = 0.25


class _ReadWatchdog:
    """Cancels ``call`` once its ``meter`` says the Read stalled (idle, or slower than the
    minimum rate); ``reason`` then says how.

    Every watchdog is checked by one shared thread: starting a thread per Read cost as much as a
    small Read itself (verified reads make one per chunk).
    """

    def __init__(self, call: grpc.RpcContext, meter: StreamMeter) -> None:
        self._call = call
        self._meter = meter
        self.poll_interval = meter.poll_interval
        self._lock = threading.Lock()
        self.stopped = False
        self.reason: str | None = None
        self._end_deadline: float | None = None
        self.cut = False  # fired by end_within: the reader ended the call, nothing was lost
        _WATCHDOGS.add(self)

    def end_within(self, seconds: float) -> None:
        """Cancel the call if it does not end (or send data) within about ``seconds``."""
        with self._lock:
            self._end_deadline = time.monotonic() + seconds
            self.poll_interval = min(self.poll_interval, END_POLL_INTERVAL)

    def waiting(self) -> None:
        """The reader waits for the next message."""
        with self._lock:
            self._meter.wait_started(time.monotonic())

    def received(self, size: int) -> str | None:
        """Data came; why the Read stalled before it did, or None."""
        with self._lock:
            reason = self._meter.wait_ended(time.monotonic(), size)
        if reason is not None:
            self._fire(reason)
        return reason

    def stop(self) -> None:
        self.stopped = True

    def check(self, now: float) -> None:
        """Cancel the call if it stalled (called by the shared thread)."""
        if self.stopped:
            return
        with self._lock:
            reason = self._meter.stall(now)
            if self._end_deadline is not None and now > self._end_deadline:
                self.cut = True
                reason = "the reader had every byte it expected; the server did not end the call"
        if reason is not None:
            self._fire(reason)

    def _fire(self, reason: str) -> None:
        self.reason = reason
        self.stopped = True
        _cancel(self._call)


class _WatchdogThread:
    """The thread that checks every live _ReadWatchdog; it runs only while there are some."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchdogs: set[_ReadWatchdog] = set()
        self._running = False

    def add(self, watchdog: _ReadWatchdog) -> None:
        with self._lock:
            self._watchdogs.add(watchdog)
            if not self._running:
                self._running = True
                threading.Thread(target=self._watch, name="grpc-read-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            with self._lock:
                self._watchdogs = {dog for dog in self._watchdogs if not dog.stopped}
                if not self._watchdogs:
                    self._running = False
                    return
                watchdogs = list(self._watchdogs)
            time.sleep(min(1.0, min(dog.poll_interval for dog in watchdogs)))
            now = time.monotonic()
            for dog in watchdogs:
                dog.check(now)


_WATCHDOGS = _WatchdogThread()
