"""Which stores are trusted: their reads hand on the blob as it is, unchecked (a local store's own
data, or a composition that verifies what it takes from others); a remote store is not."""

from __future__ import annotations

from tests.conformance.conftest import StoreUnderTest

TRUSTED = {
    "memory": True,
    "file": True,
    "s3": True,
    "grpc-memory": False,
    "grpc-file": False,
    "cache": True,  # its near store is local; what comes from far is verified
    "substituters": True,  # every byte is verified against the digest before it is handed on
}


def test_each_store_says_whether_it_is_trusted(subject: StoreUnderTest) -> None:
    assert subject.store.trusted is TRUSTED[subject.kind]
