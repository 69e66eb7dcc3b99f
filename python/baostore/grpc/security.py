"""Access control for the gRPC store: TLS on both ends, bearer tokens, loopback-only listening.

Server: ``ServerSecurity`` holds the TLS key pair (and, for mutual TLS, the CA client
certificates must chain to), the write and read tokens, and whether listening beyond loopback
without TLS was explicitly allowed. ``TokenInterceptor`` checks ``authorization: Bearer <token>``
metadata: Put needs the write token when one is set; Stat and Read need the read token (or the
write token) only when a read token is set. Health and reflection stay open. Tokens are compared
in constant time.

Client: ``ClientSecurity`` comes from the store URL's query (``?ca=&cert=&key=&token_file=``) and
the environment (``BAOSTORE_CA``, ``BAOSTORE_TOKEN``) and opens the channel: TLS for
``grpc+https://``, the token sent with every call when there is one.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc import aio

from baostore.grpc.services import BlobServiceInterceptor, Handler
from baostore.store.urls import UrlOptions

CA_ENV = "BAOSTORE_CA"
TOKEN_ENV = "BAOSTORE_TOKEN"
_log = logging.getLogger(__name__)
AUTHORIZATION = "authorization"
BEARER = "Bearer "
WRITE_METHODS = frozenset({"Put"})
# A token file holds a short secret; anything bigger is a wrong path, not a token.
MAX_TOKEN_FILE_SIZE = 4096
HTTPS_OPTIONS = ("ca", "cert", "key", "token_file")
PLAIN_OPTIONS = ("token_file",)


# -- files -------------------------------------------------------------------------------------


def read_token_file(path: str | Path) -> bytes:
    """The token in ``path`` (surrounding whitespace removed); ValueError if empty or huge."""
    file = Path(path)
    with file.open("rb") as handle:
        raw = handle.read(MAX_TOKEN_FILE_SIZE + 1)
    if len(raw) > MAX_TOKEN_FILE_SIZE:
        raise ValueError(f"token file {file} is larger than {MAX_TOKEN_FILE_SIZE} bytes")
    token = raw.strip()
    if not token:
        raise ValueError(f"token file {file} is empty")
    if any(byte < 0x21 or byte > 0x7E for byte in token):
        raise ValueError(f"token file {file}: a token is printable ASCII without spaces")
    return token


def _read_pem(path: str | Path, what: str) -> bytes:
    data = Path(path).read_bytes()
    if b"-----BEGIN " not in data:
        raise ValueError(f"{what} {path} is not a PEM file")
    return data


# -- server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key (PEM); ``client_ca`` set means mutual TLS."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(cls, cert: str, key: str, client_ca: str | None = None) -> ServerTls:
        return cls(
            certificate_chain=_read_pem(cert, "TLS certificate"),
            private_key=_read_pem(key, "TLS key"),
            client_ca=None if client_ca is None else _read_pem(client_ca, "client CA"),
        )

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True)
class ServerSecurity:
    """Everything ``start_server`` needs to know about who may connect and do what."""

    tls: ServerTls | None = None
    write_token: bytes | None = None
    read_token: bytes | None = None
    insecure_listen: bool = False

    def interceptors(self) -> list[aio.ServerInterceptor[Any, Any]]:
        if self.write_token is None and self.read_token is None:
            return []
        return [TokenInterceptor(write_token=self.write_token, read_token=self.read_token)]

    def check_listen(self, listen: str) -> None:
        """ValueError if ``listen`` reaches beyond this machine without TLS and no opt-in."""
        if self.tls is None and not self.insecure_listen and not is_loopback(listen):
            raise ValueError(
                f"refusing to listen on {listen} without TLS: it is reachable from other "
                "machines. Give --tls-cert/--tls-key, listen on loopback or a unix socket, "
                "or pass --insecure-listen"
            )


def is_loopback(listen: str) -> bool:
    """Whether ``listen`` (``HOST:PORT``, ``[V6]:PORT`` or ``unix:PATH``) is local only."""
    if listen.startswith("unix:"):
        return True
    host = listen.rpartition(":")[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class TokenInterceptor(BlobServiceInterceptor):
    """Requires ``authorization: Bearer <token>`` on BlobService calls (see the module doc)."""

    def __init__(self, *, write_token: bytes | None, read_token: bytes | None) -> None:
        self._write_token = write_token
        self._read_token = read_token

    def intercept(self, handler: Handler, method: str, details: grpc.HandlerCallDetails) -> Handler:
        accepted = self._tokens_for(method)
        if not accepted:
            return handler
        presented = _bearer_token(details.invocation_metadata)
        if presented is None:
            return _denying_handler(
                handler, grpc.StatusCode.UNAUTHENTICATED, "this call needs a bearer token"
            )
        # Every candidate is compared (constant time each), so timing tells nothing either.
        matches = [hmac.compare_digest(presented, token) for token in accepted]
        if not any(matches):
            return _denying_handler(
                handler, grpc.StatusCode.PERMISSION_DENIED, "the bearer token is not accepted"
            )
        return handler

    def _tokens_for(self, method: str) -> list[bytes]:
        """The tokens that grant a BlobService ``method``; empty when it is open to everyone."""
        if method in WRITE_METHODS:
            return [self._write_token] if self._write_token is not None else []
        if self._read_token is None:
            return []
        return [token for token in (self._read_token, self._write_token) if token is not None]


def _bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> bytes | None:
    for key, value in metadata or ():
        if key.lower() != AUTHORIZATION:
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if text[: len(BEARER)].lower() == BEARER.lower():
            return text[len(BEARER) :].strip().encode("latin-1", errors="replace")
        return b""  # some other scheme: present, but never a match
    return None


def _denying_handler(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, details: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as ``handler`` that fails every call with ``code``."""

    async def deny(request: Any, context: aio.ServicerContext[Any, Any]) -> NoReturn:
        del request
        await context.abort(code, details)
        raise AssertionError("abort returned")  # abort always raises

    deserializer = handler.request_deserializer
    serializer = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, deserializer, serializer)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, deserializer, serializer)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, deserializer, serializer)
    return grpc.unary_unary_rpc_method_handler(deny, deserializer, serializer)


# -- client ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSecurity:
    """How a client reaches a server: TLS material (``tls`` on for https) and a bearer token."""

    tls: bool = False
    ca: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    token: bytes | None = None
    # A token from $BAOSTORE_TOKEN applies to whatever URL is used: it is only sent where it
    # cannot be read on the way (TLS, loopback, a unix socket). A ?token_file= is an explicit
    # choice for that one URL and is sent as asked.
    token_from_environment: bool = False

    @staticmethod
    def url_options(*, tls: bool) -> tuple[str, ...]:
        """The access options a store URL may carry (the TLS ones for https only)."""
        return HTTPS_OPTIONS if tls else PLAIN_OPTIONS

    @classmethod
    def from_url_options(
        cls, options: UrlOptions, *, tls: bool, environ: Mapping[str, str] = os.environ
    ) -> ClientSecurity:
        """Take ``ca=``, ``cert=``, ``key=`` (https only) and ``token_file=`` out of ``options``.

        ``BAOSTORE_CA`` names the CA file when ``ca`` is absent (else the system's roots);
        ``BAOSTORE_TOKEN`` holds the token when ``token_file`` is absent.
        """
        url = options.url
        given = {key: options.take(key) for key in cls.url_options(tls=tls)}
        if (given.get("cert") is None) != (given.get("key") is None):
            raise ValueError(f"{url}: a client certificate needs both cert= and key=")
        ca_path = given.get("ca")
        if ca_path is None and tls:
            ca_path = environ.get(CA_ENV) or None
        token_file = given.get("token_file")
        token: bytes | None
        if token_file is not None:
            token = read_token_file(token_file)
        else:
            env_token = environ.get(TOKEN_ENV, "").strip()
            token = env_token.encode() if env_token else None
        cert, key = given.get("cert"), given.get("key")
        return cls(
            tls=tls,
            ca=None if ca_path is None else _read_pem(ca_path, "CA certificate"),
            certificate_chain=None if cert is None else _read_pem(cert, "client certificate"),
            private_key=None if key is None else _read_pem(key, "client key"),
            token=token,
            token_from_environment=token is not None and token_file is None,
        )

    @classmethod
    def from_url_query(
        cls, url: str, query: str, *, tls: bool, environ: Mapping[str, str] = os.environ
    ) -> ClientSecurity:
        """``from_url_options`` for a query of access options only (anything else: ValueError)."""
        options = UrlOptions(url, query)
        options.refuse_unknown(cls.url_options(tls=tls))
        return cls.from_url_options(options, tls=tls, environ=environ)

    def token_for(self, target: str) -> bytes | None:
        """The token to send to ``target`` (``HOST:PORT`` or ``unix:...``), if any."""
        if self.token is None:
            return None
        if self.token_from_environment and not self.tls and not is_loopback(target):
            _log.warning(
                "not sending $%s to %s: the connection is not encrypted "
                "(use grpc+https://, or ?token_file= to send it anyway)",
                TOKEN_ENV,
                target,
            )
            return None
        return self.token

    def channel(self, target: str, options: Sequence[tuple[str, Any]]) -> grpc.Channel:
        """A channel to ``target``: TLS if asked for, the token on every call if there is one."""
        if self.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self.ca,
                private_key=self.private_key,
                certificate_chain=self.certificate_chain,
            )
            channel = grpc.secure_channel(target, credentials, options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        token = self.token_for(target)
        if token is None:
            return channel
        header = (AUTHORIZATION, BEARER + token.decode("ascii", errors="replace"))
        return grpc.intercept_channel(channel, _MetadataInterceptor(header))


class _MetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds one metadata entry to every call."""

    def __init__(self, entry: tuple[str, str]) -> None:
        self._entry = entry

    def _details(self, details: Any) -> Any:
        metadata = (*(details.metadata or ()), self._entry)
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None
