"""Access control: TLS (server and mutual), write and read tokens, loopback-only listening."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from baostore import bao
from baostore.grpc.client import GrpcBlobStore
from baostore.grpc.security import (
    CA_ENV,
    TOKEN_ENV,
    ClientSecurity,
    ServerSecurity,
    ServerTls,
    is_loopback,
    read_token_file,
)
from baostore.grpc.server import start_server
from baostore.store.interface import StoreError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.certs import Pki, make_pki
from tests.support.grpc_server import serve_in_thread
from tests.support.serve_process import serve_process
from tests.support.stores import small_chunk_memory_store

WRITE_TOKEN = b"write-secret-0123456789"
READ_TOKEN = b"read-secret-9876543210"
SERVE_PUBLIC = ("--store", "memory://", "--listen", "0.0.0.0:0")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CA_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def client(url: str) -> GrpcBlobStore:
    store = GrpcBlobStore.from_url(url)
    store.timeout = 10.0
    return store


def round_trip(url: str) -> None:
    data = os.urandom(100_000)
    with client(url) as store:
        digest = store.put(data)
        reader = store.open_read(digest)
        assert reader is not None
        with reader:
            assert reader.read() == data


def server_tls(pki: Pki, *, mutual: bool = False) -> ServerTls:
    return ServerTls.from_files(
        str(pki.server.cert), str(pki.server.key), str(pki.ca) if mutual else None
    )


# -- TLS ---------------------------------------------------------------------------------------


@contextmanager
def tls_served(pki: Pki) -> Iterator[str]:
    with serve_in_thread(
        small_chunk_memory_store(), security=ServerSecurity(server_tls(pki))
    ) as url:
        yield url


def test_tls_round_trip_with_the_ca_in_the_url(pki: Pki) -> None:
    with serve_in_thread(
        small_chunk_memory_store(), security=ServerSecurity(server_tls(pki))
    ) as url:
        assert url.startswith("grpc+https://")
        round_trip(f"{url}?ca={pki.ca}")


def test_tls_ca_from_the_environment(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_in_thread(
        small_chunk_memory_store(), security=ServerSecurity(server_tls(pki))
    ) as url:
        monkeypatch.setenv(CA_ENV, str(pki.ca))
        round_trip(url)


@pytest.mark.parametrize("trust", ["other_ca", "system roots", "plain text"])
def test_tls_refuses_an_untrusted_server_or_a_plain_client(pki: Pki, trust: str) -> None:
    with serve_in_thread(
        small_chunk_memory_store(), security=ServerSecurity(server_tls(pki))
    ) as url:
        if trust == "other_ca":
            url = f"{url}?ca={pki.other_ca}"
        elif trust == "plain text":
            url = url.replace("grpc+https://", "grpc+http://")
        with client(url) as store, pytest.raises(StoreError, match=r"cannot reach|UNAVAILABLE"):
            store.has(bytes(32))


def test_mutual_tls_needs_a_client_certificate(pki: Pki) -> None:
    security = ServerSecurity(server_tls(pki, mutual=True))
    with serve_in_thread(small_chunk_memory_store(), security=security) as url:
        with client(f"{url}?ca={pki.ca}") as store, pytest.raises(StoreError):
            store.has(bytes(32))
        round_trip(f"{url}?ca={pki.ca}&cert={pki.client.cert}&key={pki.client.key}")


def test_server_tls_rejects_files_that_are_not_pem(tmp_path: Path, pki: Pki) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a certificate")
    with pytest.raises(ValueError, match="not a PEM file"):
        ServerTls.from_files(str(junk), str(pki.server.key))


# -- tokens ------------------------------------------------------------------------------------


@pytest.fixture
def token_files(tmp_path: Path) -> tuple[Path, Path]:
    write, read = tmp_path / "write.token", tmp_path / "read.token"
    write.write_bytes(WRITE_TOKEN + b"\n")
    read.write_bytes(READ_TOKEN)
    return write, read


@pytest.fixture
def write_protected() -> Iterator[str]:
    security = ServerSecurity(write_token=WRITE_TOKEN)
    with serve_in_thread(small_chunk_memory_store(), security=security) as url:
        yield url


def test_put_without_a_token_is_unauthenticated(write_protected: str) -> None:
    with client(write_protected) as store, pytest.raises(StoreError, match="UNAUTHENTICATED"):
        store.put(b"data")


def test_put_with_a_wrong_token_is_permission_denied(
    write_protected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "write-secret-0123456788")
    with client(write_protected) as store, pytest.raises(StoreError, match="PERMISSION_DENIED"):
        store.put(os.urandom(3 << 20))  # a big stream too is refused, not swallowed
    assert not client(write_protected).has(bao.hash(b"data"))


def test_put_with_the_token_from_the_environment_or_a_file(
    write_protected: str, token_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    round_trip(f"{write_protected}?token_file={token_files[0]}")
    monkeypatch.setenv(TOKEN_ENV, WRITE_TOKEN.decode())
    round_trip(write_protected)


def test_reads_stay_open_without_a_read_token(write_protected: str) -> None:
    with client(write_protected) as store:
        assert store.stat(bao.hash(b"absent")) is None
        assert store.open_read(bao.hash(b"absent")) is None


def test_a_read_token_guards_stat_and_read(token_files: tuple[Path, Path]) -> None:
    backing = small_chunk_memory_store()
    digest = backing.put(b"guarded")
    security = ServerSecurity(write_token=WRITE_TOKEN, read_token=READ_TOKEN)
    with serve_in_thread(backing, security=security) as url:
        with client(url) as anonymous, pytest.raises(StoreError, match="UNAUTHENTICATED"):
            anonymous.stat(digest)
        write_file, read_file = token_files
        with client(f"{url}?token_file={read_file}") as reader:
            assert reader.has(digest)
            with pytest.raises(StoreError, match="PERMISSION_DENIED"):
                reader.put(b"the read token does not write")
        with client(f"{url}?token_file={write_file}") as writer:
            assert writer.has(digest)  # the write token reads too
        with grpc.insecure_channel(url.removeprefix("grpc+http://")) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING  # health stays open


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"  \n", "empty"), (b"two words", "printable"), (b"x" * 5000, "larger")],
)
def test_bad_token_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_token_file(path)


def test_client_security_options_from_the_url(pki: Pki, token_files: tuple[Path, Path]) -> None:
    secured = ClientSecurity.from_url_query(
        "u", f"ca={pki.ca}&token_file={token_files[0]}", tls=True, environ={}
    )
    assert secured.ca == pki.ca.read_bytes() and secured.token == WRITE_TOKEN
    from_env = ClientSecurity.from_url_query(
        "u", "", tls=True, environ={CA_ENV: str(pki.ca), TOKEN_ENV: " tok "}
    )
    assert from_env.ca == pki.ca.read_bytes() and from_env.token == b"tok"
    with pytest.raises(ValueError, match="unknown option 'ca'"):
        ClientSecurity.from_url_query("u", f"ca={pki.ca}", tls=False, environ={})


@pytest.mark.parametrize(
    ("target", "tls", "sent"),
    [
        ("127.0.0.1:50051", False, True),
        ("[::1]:50051", False, True),
        ("localhost:50051", False, True),
        ("unix:///run/baostore.sock", False, True),
        ("cache.example:50051", False, False),
        ("10.1.2.3:50051", False, False),
        ("cache.example:50051", True, True),
    ],
)
def test_environment_token_only_travels_encrypted_or_locally(
    target: str, tls: bool, sent: bool
) -> None:
    security = ClientSecurity.from_url_query("u", "", tls=tls, environ={TOKEN_ENV: "tok"})
    assert security.token_for(target) == (b"tok" if sent else None)


def test_token_file_in_the_url_is_sent_as_asked(token_files: tuple[Path, Path]) -> None:
    security = ClientSecurity.from_url_query(
        "u", f"token_file={token_files[0]}", tls=False, environ={}
    )
    assert security.token_for("cache.example:50051") == WRITE_TOKEN


# -- listening ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "local"),
    [
        ("127.0.0.1:1", True),
        ("127.8.9.10:1", True),
        ("[::1]:1", True),
        ("localhost:1", True),
        ("unix:/run/x.sock", True),
        ("0.0.0.0:1", False),
        ("[::]:1", False),
        ("10.1.2.3:1", False),
        ("example.org:1", False),
    ],
)
def test_is_loopback(listen: str, local: bool) -> None:
    assert is_loopback(listen) is local


def test_start_server_refuses_a_public_address_without_tls() -> None:
    async def attempt() -> None:
        with pytest.raises(ValueError, match="without TLS"):
            await start_server(small_chunk_memory_store(), "0.0.0.0:0")
        running = await start_server(
            small_chunk_memory_store(), "0.0.0.0:0", security=ServerSecurity(insecure_listen=True)
        )
        await running.stop(0)

    asyncio.run(attempt())


def test_serve_command_with_a_write_token(tmp_path: Path, token_files: tuple[Path, Path]) -> None:
    store_url = (tmp_path / "store").as_uri()
    data = tmp_path / "data"
    data.write_bytes(os.urandom(50_000))
    with serve_process(store_url, "--write-token-file", str(token_files[0])) as (_, address):
        command = [sys.executable, "-m", "baostore.cli", "put", str(data)]
        command += ["--store", f"grpc+http://{address}"]
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
        env[TOKEN_ENV] = WRITE_TOKEN.decode()
        accepted = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == bao.hash(data.read_bytes()).hex()


def test_serve_command_refuses_a_public_address_without_tls() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "serve", *SERVE_PUBLIC],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--insecure-listen" in result.stderr


def test_serve_command_with_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    data = tmp_path / "data"
    data.write_bytes(os.urandom(50_000))
    tls = ["--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)]
    with serve_process("memory://", *tls, "--tls-client-ca", str(pki.ca)) as (_, address):
        url = f"grpc+https://{address}?ca={pki.ca}"
        put = [sys.executable, "-m", "baostore.cli", "put", str(data)]
        anonymous = subprocess.run([*put, "--store", url], capture_output=True, timeout=60)
        assert anonymous.returncode == 1
        with_cert = f"{url}&cert={pki.client.cert}&key={pki.client.key}"
        accepted = subprocess.run(
            [*put, "--store", with_cert], capture_output=True, text=True, timeout=60
        )
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == bao.hash(data.read_bytes()).hex()


def test_serve_command_needs_both_tls_files() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "serve", *SERVE_PUBLIC[:2], "--tls-cert", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "--tls-cert and --tls-key go together" in result.stderr
