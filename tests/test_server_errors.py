"""What a server tells its clients when its store fails: the kind of failure and an error id,
never its paths or errno; the detail goes to the server's log under the same id."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from baostore.errors import StoreError
from baostore.grpc.client import GrpcBlobStore
from baostore.proto import blobstore_pb2, blobstore_pb2_grpc

from tests.support.serve_process import serve_process

_ERROR_ID = re.compile(r"error id ([0-9a-f]{16})")


def test_a_failing_store_is_reported_by_kind_and_id_the_detail_is_logged(tmp_path: Path) -> None:
    store = tmp_path / "secret-store-path"
    store.mkdir()
    (store / "chunks").write_text("a file where the chunk directory belongs")
    lines: list[str] = []
    with (
        serve_process(store.as_uri(), log=lines) as (_, address),
        GrpcBlobStore.from_url(f"grpc+http://{address}") as client,
        pytest.raises(StoreError) as failure,
    ):
        client.put(b"a blob the store cannot keep")
    log = "".join(lines)
    told = str(failure.value)
    for secret in ("secret-store-path", "chunks/", "Not a directory", "rrno", "os error"):
        assert secret not in told
    assert "INTERNAL" in told
    match = _ERROR_ID.search(told)
    assert match is not None, told
    logged = [line for line in log.splitlines() if match.group(1) in line]
    assert logged, log
    assert any("secret-store-path" in line and "Not a directory" in line for line in logged), log


def test_what_a_client_asked_wrong_is_told_as_is() -> None:
    with serve_process("memory://") as (_, address), grpc.insecure_channel(address) as channel:
        stub = blobstore_pb2_grpc.BlobServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failure:
            stub.Stat(blobstore_pb2.StatBlobRequest(digest=bytes(32), bao_shift=40), timeout=30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bao_shift must be in 0..32, got 40" in (failure.value.details() or "")
