"""What went wrong, as a kind to branch on rather than a text to parse.

Every error a store raises is a ``StoreError`` whose ``kind`` (an ``ErrorKind``) says what
happened; one subclass per kind lets ``except`` pick it. The gRPC server answers each kind with a
status code and the client turns the code back into the kind, both from one table
(baostore.grpc.status), so a remote store fails the way a local one does.

``InvalidRequestError`` is also a ``ValueError`` (a bad argument is one), and
``baostore.bao.BaoError`` stays the hashing layer's own error: stores and readers turn it into
the kind it means where they catch it (a ``VerificationError`` for data from an untrusted source,
a ``DataLossError`` for a store's own damaged data).
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorKind(enum.Enum):
    """What kind of failure a StoreError is."""

    NOT_FOUND = "not found"  # no blob (or chunk) with that digest
    INVALID_REQUEST = "invalid request"  # the caller asked for something malformed or out of range
    UNAVAILABLE = "unavailable"  # the store (or every member that might serve) cannot be reached
    STALLED = "stalled"  # a call or stream made no progress in time
    VERIFICATION = "verification"  # data from an untrusted source does not match its digest
    DATA_LOSS = "data loss"  # data a store holds or lists is damaged or missing
    INTERNAL = "internal"  # anything else that failed inside a store


class StoreError(Exception):
    """A store could not complete an operation; ``kind`` says why (INTERNAL unless a subclass
    says otherwise)."""

    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL


class NotFoundError(StoreError):
    """The blob (or chunk) asked for is not there."""

    kind = ErrorKind.NOT_FOUND


class InvalidRequestError(StoreError, ValueError):
    """A request a store refuses before doing anything: a bad digest, shift, format or limit."""

    kind = ErrorKind.INVALID_REQUEST


class InvalidDigestError(InvalidRequestError):
    """A digest that is not 32 bytes (or not parseable)."""


class UnavailableError(StoreError):
    """The store cannot be reached, or no member of a composition could serve."""

    kind = ErrorKind.UNAVAILABLE


class StalledError(StoreError):
    """A call or stream made no progress within its time limit."""

    kind = ErrorKind.STALLED


class VerificationError(StoreError):
    """Data from an untrusted source did not verify against the blob's digest."""

    kind = ErrorKind.VERIFICATION


class DataLossError(StoreError):
    """Data a store holds or lists is damaged or missing (a corrupt record, a lost chunk)."""

    kind = ErrorKind.DATA_LOSS


class UnsupportedError(InvalidRequestError):
    """An operation this kind of store cannot do: a remote store cannot list or remove blobs
    (the BlobService protocol has no call for it)."""


class MissingStoreError(NotFoundError):
    """The store a URL names does not exist, and the caller asked not to create it (a mistyped
    ``file://`` path given to a command that only reads)."""


ERROR_TYPES: dict[ErrorKind, type[StoreError]] = {
    error_type.kind: error_type
    for error_type in (
        StoreError,
        NotFoundError,
        InvalidRequestError,
        UnavailableError,
        StalledError,
        VerificationError,
        DataLossError,
    )
}


def error_of_kind(kind: ErrorKind, message: str) -> StoreError:
    """A StoreError of ``kind`` (its own subclass) saying ``message``."""
    return ERROR_TYPES[kind](message)


def printable(text: str) -> str:
    """``text`` with every character that is not printable (ESC, BEL, CR, newlines, bidi
    controls...) written as its Python escape (``\\x1b``, ``\\u202e``): text a remote sent cannot
    drive a terminal or forge lines of output. Printable text comes back as it is, and escaping
    twice changes nothing more (a backslash is printable)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)
