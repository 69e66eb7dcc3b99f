"""Malformed requests answered with INVALID_ARGUMENT instead of gRPC's generic UNKNOWN.

gRPC turns a request its deserializer cannot parse into UNKNOWN ("Unexpected DecodeError"),
which tells a client nothing useful. ``DecodeGuard`` takes the decoding of BlobService requests
out of gRPC's hands: the handler receives raw bytes, parses them itself and aborts with
INVALID_ARGUMENT naming the message type when they are not a valid message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from baostore.grpc.services import BlobServiceInterceptor, Context, Handler

Deserializer = Callable[[bytes], Any]


async def _decode(deserialize: Deserializer, raw: bytes, context: Context) -> Any:
    try:
        return deserialize(raw)
    except DecodeError as error:
        await _malformed(context, error)


async def _malformed(context: Context, error: Exception) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {error}")
    raise AssertionError("abort returned")  # abort always raises


class DecodeGuard(BlobServiceInterceptor):
    """Decodes BlobService requests inside the handler (see the module docstring)."""

    def intercept(self, handler: Handler, method: str, details: grpc.HandlerCallDetails) -> Handler:
        if handler.request_deserializer is None:
            return handler
        return _decoding_handler(handler, handler.request_deserializer)


def _decoding_handler(
    handler: grpc.RpcMethodHandler[Any, Any], deserialize: Deserializer
) -> grpc.RpcMethodHandler[Any, Any]:
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return handler  # BlobService has no such method
    if handler.request_streaming:
        stream_behavior: Any = handler.stream_unary

        async def stream_unary(raw_requests: AsyncIterator[bytes], context: Context) -> Any:
            async def decoded() -> AsyncIterator[Any]:
                async for raw in raw_requests:
                    yield await _decode(deserialize, raw, context)

            return await stream_behavior(decoded(), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, None, serializer)

    behavior: Any = handler.unary_stream if handler.response_streaming else handler.unary_unary

    async def unary_request(raw: bytes, context: Context) -> Any:
        return await behavior(await _decode(deserialize, raw, context), context)

    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(unary_request, None, serializer)
    return grpc.unary_unary_rpc_method_handler(unary_request, None, serializer)
