"""GrpcBlobStore: a BlobStore that is a BlobService server somewhere else.

A remote store that is not trusted: ``open_read`` returns a VerifiedReader (baostore.verify)
that checks every byte against the digest before handing it on, asking Stat for the bao at the
shift and format of ``read_options`` and reading chunks (or chunks from ``cache``, when set).

Every unary call carries a deadline. Streams may run as long as data keeps moving: an idle
watchdog cancels a Read that receives nothing for ``idle_timeout`` seconds, and a Put whose
messages are not taken for that long fails.
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
    StalledError,
    StoreError,
    UnsupportedError,
    VerificationError,
    error_of_kind,
)
from baostore.grpc.convert import response_to_stat, stat_request_message
from baostore.grpc.security import ClientSecurity
from baostore.grpc.services import (
    CHANNEL_OPTIONS,
    DATA_MESSAGE_SIZE,
)
from baostore.grpc.status import kind_of
from baostore.grpc.transport import unavailable_message
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc
from baostore.store.interface import (
    DEFAULT_BAO_SHIFT,
    BlobEntry,
    BlobReader,
    BlobStore,
    BlobWriter,
    Stat,
    StatRequest,
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
        # TLS and the bearer token, when the URL or the environment asks for them.
        security = security or ClientSecurity()
        self.tls = security.tls
        self._channel = security.channel(target, CHANNEL_OPTIONS)
        self._stub = blobstore_pb2_grpc.BlobServiceStub(self._channel)

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float | None = None, idle_timeout: float | None = None
    ) -> GrpcBlobStore:
        """Open ``grpc+http://HOST:PORT``, ``grpc+https://HOST:PORT`` or ``grpc+unix:///PATH``.

        The query may set the bao verified reads ask for: ``?bao_shift=N&bao_format=F``, and
        access (see security.py): ``token_file=PATH``, for https also ``ca=``, ``cert=``, ``key=``.
        ``timeout`` and ``idle_timeout`` (None: the defaults) are the store's time limits.
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
        digest = check_digest(digest)
        call = self._stub.Read(blobstore_pb2.ReadBlobRequest(digest=digest))
        watchdog = _IdleWatchdog(call, self.idle_timeout)
        messages = iter(call)
        try:
            first = next(messages, None)
        except grpc.RpcError as error:
            watchdog.stop()
            if kind_of(error.code()) is ErrorKind.NOT_FOUND:
                return None
            raise self._error(error, "Read", watchdog) from None
        return self._read_stream(call, messages, first, watchdog)

    def _read_stream(
        self,
        call: grpc.CallIterator[blobstore_pb2.BlobChunk],
        messages: Iterator[blobstore_pb2.BlobChunk],
        first: blobstore_pb2.BlobChunk | None,
        watchdog: _IdleWatchdog,
    ) -> Iterator[bytes]:
        try:
            if first is None:
                return
            if first.data:
                yield first.data
            for message in messages:
                # Only data is progress: a server sending empty messages forever must not keep
                # the watchdog from ending a Read that delivers nothing.
                if message.data:
                    watchdog.touch()
                    yield message.data
        except grpc.RpcError as error:
            raise self._error(error, "Read", watchdog) from None
        finally:
            watchdog.stop()
            # A no-op when the stream ended; frees the call when the reader stopped early.
            _cancel(call)

    def open_write(self) -> BlobWriter:
        return GrpcBlobWriter(self)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcBlobStore:
        return self

    def _error(
        self, error: grpc.RpcError, method: str, watchdog: _IdleWatchdog | None = None
    ) -> StoreError:
        """The store error for a failed call: of the kind its status code stands for."""
        if watchdog is not None and watchdog.fired:
            return StalledError(
                f"{method} from {self.display} stalled: no data for {self.idle_timeout:g} s"
            )
        code = error.code()
        details = error.details() or code.name
        kind = kind_of(code)
        if kind is ErrorKind.INVALID_REQUEST:
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


def _cancel(call: grpc.RpcContext | grpc.Future[Any]) -> None:
    """Cancel a call (a no-op once it ended)."""
    call.cancel()


class GrpcBlobWriter(BlobWriter):
    """A Put stream fed by ``write``: ~1 MiB messages through a short queue (bounded memory)."""

    def __init__(self, store: GrpcBlobStore) -> None:
        self._store = store
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_PUT_QUEUE_DEPTH)
        self._pending = bytearray()
        self._finished = False
        # The server's answer is not trusted: the digest is checked against what was sent.
        self._hasher = bao.Hasher()
        self._future = store._stub.Put.future(self._messages())

    def _messages(self) -> Iterator[blobstore_pb2.BlobChunk]:
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
            yield blobstore_pb2.BlobChunk(data=data)

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
            self._send(bytes(self._pending))
            self._pending = bytearray()
        if isinstance(data, bytes) and len(view) == DATA_MESSAGE_SIZE == len(data):
            self._send(data)  # the common case of 1 MiB reads: no copy at all
            return written
        while len(view) >= DATA_MESSAGE_SIZE:
            self._send(bytes(view[:DATA_MESSAGE_SIZE]))
            view = view[DATA_MESSAGE_SIZE:]
        self._pending += view
        return written

    def close(self) -> bytes:
        self._check_writable()
        if self._pending:
            self._send(bytes(self._pending))
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

    def _send(self, data: bytes | None) -> None:
        """Queue a message; fail if the call ended or the server takes nothing for too long."""
        deadline = time.monotonic() + self._store.idle_timeout
        while True:
            if self._future.done():
                self._finished = True
                self._raise_call_error()
            try:
                self._queue.put(data, timeout=0.2)
                return
            except queue.Full:
                if time.monotonic() > deadline:
                    self.abort()
                    raise StalledError(
                        f"Put to {self._store.display} stalled: nothing sent for "
                        f"{self._store.idle_timeout:g} s"
                    ) from None

    def _raise_call_error(self) -> None:
        try:
            self._future.result(timeout=0)
        except grpc.RpcError as error:
            raise self._store._error(error, "Put") from None
        raise StoreError(f"Put to {self._store.display} ended before the data was sent")


class _IdleWatchdog:
    """Cancels ``call`` when ``touch`` has not been called for ``idle_timeout`` seconds.

    Every watchdog is checked by one shared thread: starting a thread per Read cost as much as a
    small Read itself (verified reads make one per chunk).
    """

    def __init__(self, call: grpc.RpcContext, idle_timeout: float) -> None:
        self._call = call
        self.idle_timeout = idle_timeout
        self._last_progress = time.monotonic()
        self.stopped = False
        self.fired = False
        _WATCHDOGS.add(self)

    def touch(self) -> None:
        self._last_progress = time.monotonic()

    def stop(self) -> None:
        self.stopped = True

    def check(self, now: float) -> None:
        """Cancel the call if it has been idle too long (called by the shared thread)."""
        if not self.stopped and now - self._last_progress > self.idle_timeout:
            self.fired = True
            self.stopped = True
            _cancel(self._call)


class _WatchdogThread:
    """The thread that checks every live _IdleWatchdog; it runs only while there are some."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchdogs: set[_IdleWatchdog] = set()
        self._running = False

    def add(self, watchdog: _IdleWatchdog) -> None:
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
            time.sleep(min(1.0, min(dog.idle_timeout for dog in watchdogs) / 4))
            now = time.monotonic()
            for dog in watchdogs:
                dog.check(now)


_WATCHDOGS = _WatchdogThread()
