"""What the server did, call by call: one access-log line per BlobService call, and its metrics.

``CallObserver`` is the outermost server interceptor, so it sees every BlobService call, also
those the token check refuses or that carry undecodable requests. For each call it logs, at INFO
on the ``baostore.access`` logger, the method, the service name it was called under, the digest
asked for (or, for Put, stored) as a 16-hex prefix, the bytes of the messages received and sent,
the duration, the status and the peer; and it counts the same into baostore.metrics (calls and
errors by method and status, bytes, durations, calls in flight, DATA_LOSS answers). The fields
also travel with the log record (``record.access``), for a JSON formatter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from baostore import metrics
from baostore.grpc.services import BlobServiceInterceptor, Context, Handler
from baostore.proto import blobstore_pb2

ACCESS_LOGGER = "baostore.access"
access_log = logging.getLogger(ACCESS_LOGGER)
# How much of a digest an access-log line shows: enough to find the blob, short to read.
DIGEST_PREFIX_HEX = 16
# The requests that name a digest, by method (Put names its digest in the answer).
_DIGEST_REQUESTS: dict[str, type[Message]] = {
    "Stat": blobstore_pb2.StatBlobRequest,
    "Read": blobstore_pb2.ReadBlobRequest,
}


@dataclass
class CallRecord:
    """One call, as it goes: what was received and sent, and what it was about."""

    method: str
    service: str
    peer: str
    started: float
    digest: bytes = b""
    received: int = 0
    sent: int = 0

    def request(self, request: bytes) -> None:
        """Count a request message: raw bytes, as the decoding happens further in (DecodeGuard
        is the innermost interceptor)."""
        self.received += len(request)
        if not self.digest and self.method in _DIGEST_REQUESTS:
            self.digest = _digest_in(_DIGEST_REQUESTS[self.method], request)

    def response(self, response: Any) -> None:
        if isinstance(response, bytes):  # a message encoded already (Read's BlobChunks)
            self.sent += len(response)
        elif isinstance(response, Message):
            self.sent += response.ByteSize()
            if self.method == "Put":
                self.digest = bytes(getattr(response, "digest", b""))


class CallObserver(BlobServiceInterceptor):
    """Logs and counts every BlobService call (see the module docstring)."""

    def intercept(self, handler: Handler, method: str, details: grpc.HandlerCallDetails) -> Handler:
        service = details.method.lstrip("/").rpartition("/")[0]
        serializer = handler.response_serializer
        deserializer = handler.request_deserializer
        if handler.request_streaming and handler.response_streaming:
            return handler  # BlobService has no such method
        if handler.request_streaming:
            stream_behavior: Any = handler.stream_unary

            async def stream_unary(requests: AsyncIterator[Any], context: Context) -> Any:
                call = _start(method, service, context)

                async def counted() -> AsyncIterator[Any]:
                    async for request in requests:
                        call.request(request)
                        yield request

                return await _observed(call, context, stream_behavior(counted(), context))

            return grpc.stream_unary_rpc_method_handler(stream_unary, deserializer, serializer)

        if handler.response_streaming:
            stream_out: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Context) -> Any:
                call = _start(method, service, context)
                call.request(request)
                return await _observed(call, context, _streamed(stream_out, request, call, context))

            return grpc.unary_stream_rpc_method_handler(unary_stream, deserializer, serializer)

        unary: Any = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            call = _start(method, service, context)
            call.request(request)
            return await _observed(call, context, unary(request, context))

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, serializer)


def _start(method: str, service: str, context: Context) -> CallRecord:
    metrics.IN_FLIGHT.labels(method).inc()
    return CallRecord(method, service, context.peer(), time.perf_counter())


async def _streamed(behavior: Any, request: Any, call: CallRecord, context: Context) -> None:
    """Run a response-streaming handler (a coroutine writing through ``context.write``, as the
    servicer's are), counting what it sends through a counting stand-in for the context."""
    await behavior(request, _CountingContext(context, call))


async def _observed(call: CallRecord, context: Context, running: Any) -> Any:
    """Await the handler's work; then log and count the call, whatever its outcome."""
    code = grpc.StatusCode.OK
    try:
        response = await running
        call.response(response)
        return response
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    except BaseException:
        code = grpc.StatusCode.UNKNOWN  # what gRPC answers an unexpected exception with
        raise
    finally:
        _finish(call, _status(context, code))


def _status(context: Context, default: grpc.StatusCode) -> grpc.StatusCode:
    """The status the call ends with: the one a handler set or aborted with, else ``default``."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpc.aio reports the numeric code
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status
    return default


def _finish(call: CallRecord, code: grpc.StatusCode) -> None:
    seconds = time.perf_counter() - call.started
    method = call.method
    metrics.IN_FLIGHT.labels(method).dec()
    metrics.CALLS.labels(method, code.name).inc()
    if code is not grpc.StatusCode.OK:
        metrics.ERRORS.labels(method, code.name).inc()
    if code is grpc.StatusCode.DATA_LOSS:
        metrics.VERIFICATION_FAILURES.labels("server").inc()
    metrics.RECEIVED_BYTES.labels(method).inc(call.received)
    metrics.SENT_BYTES.labels(method).inc(call.sent)
    metrics.CALL_SECONDS.labels(method).observe(seconds)
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "method": method,
        "service": call.service,
        "digest": call.digest.hex()[:DIGEST_PREFIX_HEX] or "-",
        "received": call.received,
        "sent": call.sent,
        "duration_ms": round(seconds * 1000, 3),
        "status": code.name,
        "peer": call.peer,
    }
    access_log.info(
        "%(method)s %(service)s digest=%(digest)s received=%(received)d sent=%(sent)d "
        "duration_ms=%(duration_ms).1f status=%(status)s peer=%(peer)s",
        fields,
        extra={"access": fields},
    )


def _digest_in(message_type: type[Message], raw: bytes) -> bytes:
    try:
        return bytes(getattr(message_type.FromString(raw), "digest", b""))
    except DecodeError:
        return b""  # DecodeGuard answers it with INVALID_ARGUMENT


class _CountingContext:
    """A servicer context that counts the messages written through it; everything else is the
    real context's."""

    def __init__(self, context: Context, call: CallRecord) -> None:
        self._context = context
        self._call = call

    async def write(self, message: Any) -> None:
        self._call.response(message)
        await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
