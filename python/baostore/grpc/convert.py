"""Conversions between the store's Stat and the StatBlobResponse message, and message fitting.

Every Stat answer must stay under the message limit. Stores that read by window fit their answer
themselves (``StatRequest.answer_limit``: a ranged answer covers a shorter window). For any other
answer without a window, the answer is made smaller in the order that costs the client least:
drop the inline data (the client can Read it), coarsen the bao (the client verifies in bigger
groups), and only then drop the chunk list (empty means "no finer chunking"). A window's proof is
never coarsened: an answer for a window that does not fit is an error.
"""

from __future__ import annotations

from dataclasses import replace

from baostore import bao
from baostore.errors import StoreError
from baostore.grpc.services import MAX_MESSAGE_SIZE
from baostore.proto import blobstore_pb2
from baostore.store.interface import (
    BaoFormat,
    ByteRange,
    ChunkMeta,
    ChunkSizes,
    Stat,
    StatRequest,
)

FORMAT_TO_PROTO: dict[BaoFormat, blobstore_pb2.BaoFormat.ValueType] = {
    "pre_order": blobstore_pb2.PRE_ORDER,
    "leaves": blobstore_pb2.LEAVES,
}
PROTO_TO_FORMAT: dict[int, BaoFormat] = {value: name for name, value in FORMAT_TO_PROTO.items()}

# Room for the bao field's tag and length prefix and a bigger bao_shift varint.
_FIELD_OVERHEAD = 16


def format_from_proto(value: int) -> BaoFormat:
    """The bao format named by a BaoFormat enum value; ValueError for an unknown value."""
    try:
        return PROTO_TO_FORMAT[value]
    except KeyError:
        raise ValueError(f"unknown bao format {value} (known: 0 = PRE_ORDER, 1 = LEAVES)") from None


def stat_request_message(digest: bytes, request: StatRequest) -> blobstore_pb2.StatBlobRequest:
    """The StatBlobRequest a client sends for ``request`` (its answer limit is the server's)."""
    message = blobstore_pb2.StatBlobRequest(
        digest=digest,
        send_chunks=request.send_chunks,
        send_bao=request.send_bao,
        bao_shift=request.bao_shift,
        bao_format=FORMAT_TO_PROTO[request.bao_format],
        inline_limit=request.inline_limit,
    )
    if request.range is not None:
        message.range.start = request.range.start
        if request.range.end is not None:
            message.range.end = request.range.end
    return message


def range_from_message(message: blobstore_pb2.StatBlobRequest) -> ByteRange | None:
    """The range a StatBlobRequest names, or None (the whole blob)."""
    if not message.HasField("range"):
        return None
    end = message.range.end if message.range.HasField("end") else None
    return ByteRange(message.range.start, end)


def stat_to_response(stat: Stat) -> blobstore_pb2.StatBlobResponse:
    response = blobstore_pb2.StatBlobResponse(
        chunks=[
            blobstore_pb2.StatBlobResponse.ChunkMeta(digest=chunk.digest, size=chunk.size)
            for chunk in stat.chunks
        ],
        bao=stat.bao,
        bao_shift=stat.bao_shift,
        bao_format=FORMAT_TO_PROTO[stat.bao_format],
        size=stat.size,
    )
    if stat.inline is not None:
        response.inline_data = stat.inline
    if stat.window is not None:
        response.window.start, response.window.end = stat.window
        response.chunks_offset = stat.chunks_offset
    if stat.chunking is not None:
        chunking = stat.chunking
        response.chunking.min, response.chunking.avg, response.chunking.max = (
            chunking.min,
            chunking.avg,
            chunking.max,
        )
    return response


def response_to_stat(response: blobstore_pb2.StatBlobResponse) -> Stat:
    """The Stat a response describes (nothing checked against the digest yet); ValueError if it
    names an unknown bao format or chunk sizes that are no chunking."""
    window = None
    if response.HasField("window"):
        # A window without an end is none (the server must say where it ends): an empty one.
        end = response.window.end if response.window.HasField("end") else response.window.start
        window = (response.window.start, end)
    chunking = None
    if response.HasField("chunking"):
        claimed = response.chunking
        chunking = ChunkSizes(min=claimed.min, avg=claimed.avg, max=claimed.max)
    return Stat(
        size=response.size,
        chunks=tuple(ChunkMeta(digest=chunk.digest, size=chunk.size) for chunk in response.chunks),
        bao=response.bao,
        bao_shift=response.bao_shift,
        bao_format=format_from_proto(response.bao_format),
        inline=response.inline_data if response.HasField("inline_data") else None,
        window=window,
        chunks_offset=response.chunks_offset,
        chunking=chunking,
    )


def fit_stat(stat: Stat, limit: int = MAX_MESSAGE_SIZE) -> Stat:
    """``stat`` made small enough that its response message is smaller than ``limit`` bytes."""
    if stat_to_response(stat).ByteSize() < limit:
        return stat
    if stat.window is not None:
        raise StoreError(
            f"the answer for window {stat.window} does not fit {limit} bytes (a store that "
            "answers windows keeps them within its answer limit)"
        )
    if stat.inline is not None:
        stat = replace(stat, inline=None)
        if stat_to_response(stat).ByteSize() < limit:
            return stat
    coarsened = _coarsen_to_fit(stat, limit)
    if coarsened is not None:
        return coarsened
    coarsened = _coarsen_to_fit(replace(stat, chunks=()), limit)
    if coarsened is None:
        raise StoreError(f"a Stat answer for a blob of {stat.size} bytes cannot fit {limit} bytes")
    return coarsened


def _coarsen_to_fit(stat: Stat, limit: int) -> Stat | None:
    """``stat`` with its bao at the finest shift that fits ``limit``, or None if none does."""
    without_bao = stat_to_response(replace(stat, bao=b"")).ByteSize()
    if not stat.bao:
        return stat if without_bao < limit else None
    for shift in range(stat.bao_shift, bao.MAX_SHIFT + 1):
        bao_size = bao.outboard_size(stat.size, shift, stat.bao_format)
        if without_bao + bao_size + _FIELD_OVERHEAD < limit:
            if shift == stat.bao_shift:
                return stat
            coarser = bao.coarsen(stat.bao, stat.size, stat.bao_shift, shift, stat.bao_format)
            return replace(stat, bao=coarser, bao_shift=shift)
    return None
