"""The size of a Stat answer as it travels: the serialized StatBlobResponse, taken off the wire."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc

from baostore.grpc.convert import stat_request_message
from baostore.grpc.security import ClientSecurity
from baostore.grpc.services import BAOSTORE_SERVICE, method_path
from baostore.proto import blobstore_pb2
from baostore.store.interface import BaoFormat, StatRequest, StoreError
from baostore.store.urls import UrlOptions

# The probe accepts answers of any size, so a server that does not fit its answers under the
# 4 MiB limit is measured too (and shown as not fitting) instead of failing the report.
_PROBE_OPTIONS = (("grpc.max_receive_message_length", -1),)
TIMEOUT = 60.0


@dataclass(frozen=True)
class WireStat:
    """A Stat answer as received: its length in bytes and the shift the server used."""

    size: int
    served_shift: int


class StatProbe:
    """Calls Stat over ``channel`` and keeps the answer's raw bytes (no deserializer)."""

    def __init__(self, channel: grpc.Channel, display: str) -> None:
        self._display = display
        self._channel = channel
        # Without a response deserializer gRPC hands back the message bytes as received.
        self._stat = self._channel.unary_unary(
            method_path(BAOSTORE_SERVICE, "Stat"),
            request_serializer=blobstore_pb2.StatBlobRequest.SerializeToString,
            response_deserializer=None,
        )

    def stat(
        self, digest: bytes, *, bao_shift: int, bao_format: BaoFormat, inline_limit: int
    ) -> WireStat:
        """The answer to the Stat a verified reader sends (chunks and bao at ``bao_shift``)."""
        request = stat_request_message(
            digest,
            StatRequest(bao_shift=bao_shift, bao_format=bao_format, inline_limit=inline_limit),
        )
        try:
            raw = self._stat(request, timeout=TIMEOUT)
        except grpc.RpcError as error:
            raise StoreError(f"Stat at {self._display} failed: {error.details()}") from None
        if not isinstance(raw, bytes):
            raise StoreError(f"Stat at {self._display} returned {type(raw).__name__}, not bytes")
        response = blobstore_pb2.StatBlobResponse.FromString(raw)
        return WireStat(size=len(raw), served_shift=response.bao_shift)

    def close(self) -> None:
        self._channel.close()


def open_probe(url: str, target: str) -> StatProbe:
    """A probe of the server at ``url`` (gRPC ``target``), with the URL's TLS and token."""
    tls = urlsplit(url).scheme == "grpc+https"
    security = ClientSecurity.from_url_options(UrlOptions(url), tls=tls)
    return StatProbe(security.channel(target, _PROBE_OPTIONS), url)
