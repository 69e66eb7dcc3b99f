"""A BlobService server made of plain handler functions, for servers that misbehave in ways our
own server never would (escape sequences in error texts, dripping streams)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc
from baostore.grpc.convert import format_from_proto, stat_to_response
from baostore.grpc.services import SERVICE_NAMES
from baostore.proto import blobstore_pb2
from baostore.store.interface import BlobStore

StatHandler = Callable[[blobstore_pb2.StatBlobRequest, grpc.ServicerContext], Any]
ReadHandler = Callable[[blobstore_pb2.ReadBlobRequest, grpc.ServicerContext], Iterator[Any]]
PutHandler = Callable[[Iterator[blobstore_pb2.BlobChunk], grpc.ServicerContext], Any]


def honest_stat(store: BlobStore) -> StatHandler:
    """A Stat handler that answers what ``store`` says (NOT_FOUND for what it lacks)."""

    def stat(
        request: blobstore_pb2.StatBlobRequest, context: grpc.ServicerContext
    ) -> blobstore_pb2.StatBlobResponse:
        answer = store.stat(
            request.digest,
            bao_shift=request.bao_shift if request.HasField("bao_shift") else None,
            bao_format=format_from_proto(request.bao_format),
        )
        if answer is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "not here")
        return stat_to_response(answer)

    return stat


@contextmanager
def hostile_server(
    *,
    stat: StatHandler | None = None,
    read: ReadHandler | None = None,
    put: PutHandler | None = None,
) -> Iterator[str]:
    """Serve the given handlers (a missing one answers UNIMPLEMENTED) on a loopback port under
    every BlobService name; yield the server's ``grpc+http://`` URL."""
    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    if stat is not None:
        methods["Stat"] = grpc.unary_unary_rpc_method_handler(
            stat,
            request_deserializer=blobstore_pb2.StatBlobRequest.FromString,
            response_serializer=blobstore_pb2.StatBlobResponse.SerializeToString,
        )
    if read is not None:
        methods["Read"] = grpc.unary_stream_rpc_method_handler(
            read,
            request_deserializer=blobstore_pb2.ReadBlobRequest.FromString,
            response_serializer=blobstore_pb2.BlobChunk.SerializeToString,
        )
    if put is not None:
        methods["Put"] = grpc.stream_unary_rpc_method_handler(
            put,
            request_deserializer=blobstore_pb2.BlobChunk.FromString,
            response_serializer=blobstore_pb2.PutBlobResponse.SerializeToString,
        )
    server = grpc.server(ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, methods) for name in SERVICE_NAMES]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"grpc+http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
