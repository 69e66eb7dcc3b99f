"""Service names, method paths and message limits of the BlobService protocol.

The server answers the same messages under three service names so that Tvix and Snix castore
clients work unchanged; ``register_alias_descriptors`` makes the two aliases visible to gRPC
reflection too.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc import aio

from baostore.proto import blobstore_pb2
from baostore.sizes import MiB
from baostore.verify.layout import MAX_MESSAGE_SIZE as MAX_MESSAGE_SIZE

BAOSTORE_SERVICE = "baostore.v1.BlobService"
TVIX_SERVICE = "tvix.castore.v1.BlobService"
SNIX_SERVICE = "snix.castore.v1.BlobService"
SERVICE_NAMES = (BAOSTORE_SERVICE, TVIX_SERVICE, SNIX_SERVICE)

# What a handler of any BlobService call is given, and the handler (grpc's RpcMethodHandler is
# generic in its type stubs only, hence the string).
Context = aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class BlobServiceInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """A server interceptor of the BlobService calls (under any of its names); every other call
    (health, reflection) passes untouched. Subclasses say what becomes of a call's handler."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        if handler is None or service not in SERVICE_NAMES:
            return handler
        return self.intercept(handler, method, handler_call_details)

    @abstractmethod
    def intercept(self, handler: Handler, method: str, details: grpc.HandlerCallDetails) -> Handler:
        """The handler a BlobService ``method`` (``Stat``, ``Read``, ``Put``) call gets."""


# Read and Put move data in messages of this size: far below the message limit (MAX_MESSAGE_SIZE,
# which verified readers rely on too), big enough to be cheap.
DATA_MESSAGE_SIZE = MiB
# Blobs are never inlined above this size, whatever limit a client asks for.
MAX_INLINE_SIZE = DATA_MESSAGE_SIZE

# Options for both ends: the limits stated explicitly rather than left to library defaults.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
    ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
)


def method_path(service: str, method: str) -> str:
    """The HTTP/2 path of an RPC, for example ``/tvix.castore.v1.BlobService/Stat``."""
    return f"/{service}/{method}"


def register_alias_descriptors() -> None:
    """Add the tvix/snix BlobService aliases to the default descriptor pool (idempotent).

    Each alias is a service in its own package over the baostore.v1 messages, so reflection can
    describe every name the server answers under.
    """
    source = descriptor_pb2.FileDescriptorProto()
    blobstore_pb2.DESCRIPTOR.CopyToProto(source)
    pool = descriptor_pool.Default()
    for service_name in (TVIX_SERVICE, SNIX_SERVICE):
        package = service_name.rpartition(".")[0]
        alias = descriptor_pb2.FileDescriptorProto(
            name=f"{package.replace('.', '/')}/blobservice_alias.proto",
            package=package,
            syntax="proto3",
            dependency=[source.name],
        )
        alias.service.add().CopyFrom(source.service[0])
        # Re-adding an identical file is accepted by the pool, so repeated calls are harmless.
        pool.AddSerializedFile(alias.SerializeToString())
