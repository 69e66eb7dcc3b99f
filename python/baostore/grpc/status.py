"""Error kinds and gRPC status codes: one table, read one way by the server, the other by the
client, so a failure keeps its kind across the wire."""

from __future__ import annotations

import grpc

from baostore.errors import ErrorKind, StoreError

# Each kind and the status the server answers it with. Read backwards (by the client), the first
# row of a status gives its kind: a server whose own upstream failed verification answers
# DATA_LOSS, which to its client is data the server could not deliver, not a lie.
KIND_STATUS: tuple[tuple[ErrorKind, grpc.StatusCode], ...] = (
    (ErrorKind.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
    (ErrorKind.INVALID_REQUEST, grpc.StatusCode.INVALID_ARGUMENT),
    (ErrorKind.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE),
    (ErrorKind.STALLED, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ErrorKind.DATA_LOSS, grpc.StatusCode.DATA_LOSS),
    (ErrorKind.VERIFICATION, grpc.StatusCode.DATA_LOSS),
    (ErrorKind.INTERNAL, grpc.StatusCode.INTERNAL),
)
# Failures of the client's own request: their text is about what it asked, so the server sends
# it as is. Any other failure's text is the server's business (its paths, errno, the addresses
# of its upstream stores): the client is told the kind and an error id, the log the rest.
REQUEST_FAULTS = frozenset({ErrorKind.NOT_FOUND, ErrorKind.INVALID_REQUEST})
# The trailing metadata key of that error id: a failure the server met itself, not one of
# reaching it (both may be UNAVAILABLE or DEADLINE_EXCEEDED).
ERROR_ID_KEY = "baostore-error-id"
_STATUS_OF_KIND = dict(KIND_STATUS)
_KIND_OF_STATUS: dict[grpc.StatusCode, ErrorKind] = {}
for _kind, _status in KIND_STATUS:
    _KIND_OF_STATUS.setdefault(_status, _kind)


def kind_of_error(error: BaseException) -> ErrorKind:
    """``error``'s kind: INTERNAL for anything that is not a StoreError (a bug or an unexpected
    failure is never the client's fault)."""
    return error.kind if isinstance(error, StoreError) else ErrorKind.INTERNAL


def status_of(error: BaseException) -> grpc.StatusCode:
    """The status a server answers ``error`` with: that of its kind."""
    return _STATUS_OF_KIND[kind_of_error(error)]


def kind_of(status: grpc.StatusCode) -> ErrorKind:
    """The kind of error a failed call with ``status`` is (INTERNAL for statuses of no kind:
    refused credentials, exhausted resources, cancelled calls...)."""
    return _KIND_OF_STATUS.get(status, ErrorKind.INTERNAL)
