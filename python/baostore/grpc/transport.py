"""An UNAVAILABLE call in words: what gRPC's transport text says about the peer.

gRPC reports every connection problem as UNAVAILABLE with a chain of layers in its details
(``failed to connect to all addresses; last error: UNKNOWN: ipv4:...: Tls handshake failed
(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: ...WRONG_VERSION_NUMBER...``). ``unavailable_message``
tells apart a server that cannot be reached (and why: it does not speak TLS, it is not a gRPC
server...), a connection lost in the middle of a call (the server stopped or crashed), and a
server that answered UNAVAILABLE itself (a proxy whose own upstream is down).
"""

from __future__ import annotations

# How gRPC's details begin when no connection could be made.
CONNECT_FAILED = "failed to connect to all addresses"
# How they begin when an established connection went away during the call.
CONNECTION_LOST = (
    "Socket closed",
    "Stream removed",
    "Connection reset",
    "Broken pipe",
    "GOAWAY",
    "keepalive watchdog timeout",
    "Connection timed out",
    "recvmsg",
    "sendmsg",
    "Endpoint closing",
)


def unavailable_message(details: str, display: str, method: str, *, tls: bool) -> str:
    """One line for an UNAVAILABLE ``method`` call to the server ``display`` (its URL)."""
    if details.startswith(CONNECT_FAILED):
        return f"cannot reach server at {display}{_connect_failure(details, tls=tls)}"
    if details.startswith(CONNECTION_LOST):
        return (
            f"lost the connection to the server at {display} during {method}: it stopped, "
            f"crashed or was cut off ({details})"
        )
    return f"server at {display} could not serve {method}: {details}"


def _connect_failure(details: str, *, tls: bool) -> str:
    """``: why`` for a failed connection, or `` (the last layer's text)``."""
    if "WRONG_VERSION_NUMBER" in details:
        return ": the server does not speak TLS (use grpc+http://)"
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return (
            ": its TLS certificate is not trusted (give the CA that signed it: ?ca=PATH or "
            "$BAOSTORE_CA)"
        )
    if "Tls handshake failed" in details or "Handshake failed" in details:
        return f": the TLS handshake failed ({_last_layer(details)})"
    if "http1.x server" in details:
        return ": the peer is not a gRPC server (it answered in HTTP/1.x)"
    if "Failed parsing HTTP/2" in details:
        return ": the peer is not a gRPC server (it does not speak HTTP/2)"
    if details.endswith("Socket closed"):
        if tls:  # after a handshake that did not fail on our side
            return (
                ": the server closed the connection before the call (one that wants a client "
                "certificate does: give ?cert=PATH&key=PATH)"
            )
        return (
            ": the peer closed the connection before speaking gRPC (it is not a gRPC server, "
            "or a TLS one: use grpc+https://)"
        )
    return f" ({_last_layer(details)})"


def _last_layer(details: str) -> str:
    """The innermost text of gRPC's chain (``Connection refused``), without a trailing ``OK``."""
    layers = [layer for layer in details.split(": ") if layer and layer != "OK"]
    return layers[-1] if layers else details
