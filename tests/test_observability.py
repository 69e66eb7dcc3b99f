"""What a running server tells its operator: an access-log line per call (text or JSON) and
Prometheus metrics, scraped over real HTTP from a ``baostore serve`` process while it works;
and the counts the stores keep (rehashes, cache hits and misses, data that failed verification,
at the server and of far members)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from baostore import bao
from baostore.compose.cache import CacheStore
from baostore.compose.substituters import SubstitutersStore
from baostore.errors import DataLossError, StoreError, VerificationError
from baostore.grpc.client import GrpcBlobStore
from baostore.shiftreport.lying import ByteFlippingStore
from baostore.store.chunked import chunk_key
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

ANNOUNCEMENT = re.compile(r"serving \S+ on (\S+) \(metrics: (http://\S+)\)")
TIMEOUT = 60.0
BLOB = os.urandom(3 << 20)
# More than HTTP/2 flow control lets a server send ahead of a client that takes nothing.
BIG = os.urandom(24 << 20)


@dataclass
class Server:
    process: subprocess.Popen[str]
    address: str
    metrics_url: str
    lines: list[str] = field(default_factory=list)

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample the metrics endpoint serves now, by name and labels."""
        with urllib.request.urlopen(self.metrics_url, timeout=TIMEOUT) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@contextmanager
def serve(*options: str) -> Iterator[Server]:
    """``baostore serve`` of a memory store with its metrics on a free loopback port; its log
    lines are collected as they come."""
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", "memory://"]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", *options],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    announcement = process.stderr.readline()
    match = ANNOUNCEMENT.search(announcement)
    if match is None:
        process.kill()
        raise AssertionError(f"serve did not announce itself: {announcement!r}")
    server = Server(process, match.group(1), match.group(2))
    reader = threading.Thread(target=lambda: server.lines.extend(process.stderr or ()))
    reader.start()
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
        process.stderr.close()


def sample(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_while_the_server_works() -> None:
    with (
        serve("--log-format", "json") as server,
        GrpcBlobStore.from_url(f"grpc+http://{server.address}") as client,
    ):
        before = server.scrape()
        digest = client.put(BLOB)
        assert client.stat(digest, bao_shift=0) is not None  # finer than stored: a rehash
        assert client.stat(bao.hash(b"absent")) is None
        # A Read left unconsumed stays in flight: the server waits on flow control.
        big = client.put(BIG)
        pieces = client.read_raw(big)
        assert pieces is not None
        first = next(pieces)
        during = server.scrape()
        assert sample(during, "baostore_grpc_in_flight", method="Read") == 1
        assert first + b"".join(pieces) == BIG
        after = server.scrape()

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("baostore_grpc_calls_total", method="Put", code="OK") == 2
    assert moved("baostore_grpc_calls_total", method="Stat", code="OK") == 1
    assert moved("baostore_grpc_calls_total", method="Stat", code="NOT_FOUND") == 1
    assert moved("baostore_grpc_errors_total", method="Stat", code="NOT_FOUND") == 1
    assert moved("baostore_grpc_errors_total", method="Stat", code="OK") == 0
    assert moved("baostore_grpc_calls_total", method="Read", code="OK") == 1
    assert moved("baostore_grpc_received_bytes_total", method="Put") >= len(BLOB) + len(BIG)
    assert moved("baostore_grpc_sent_bytes_total", method="Read") >= len(BIG)
    assert moved("baostore_grpc_call_duration_seconds_count", method="Stat") == 2
    assert moved("baostore_stat_rehashes_total") == 1
    assert sample(after, "baostore_grpc_in_flight", method="Read") == 0

    records = [json.loads(line) for line in server.lines if '"logger": "baostore.access"' in line]
    by_method = [(record["method"], record["status"]) for record in records]
    assert by_method == [
        ("Put", "OK"),
        ("Stat", "OK"),
        ("Stat", "NOT_FOUND"),
        ("Put", "OK"),
        ("Read", "OK"),
    ]
    put, stat = records[0], records[1]
    assert put["digest"] == stat["digest"] == digest.hex()[:16]
    assert put["received"] >= len(BLOB) and put["service"] == "baostore.v1.BlobService"
    assert put["peer"].startswith("ipv4:127.0.0.1:") and put["duration_ms"] >= 0
    assert records[4]["sent"] >= len(BIG) and records[4]["digest"] == big.hex()[:16]


def test_text_access_lines_and_the_log_level() -> None:
    with serve() as server, GrpcBlobStore.from_url(f"grpc+http://{server.address}") as client:
        digest = client.put(b"logged")
    line = next(line for line in server.lines if "baostore.access" in line)
    assert re.search(
        rf"INFO baostore\.access: Put baostore\.v1\.BlobService digest={digest.hex()[:16]} "
        r"received=\d+ sent=\d+ duration_ms=[\d.]+ status=OK peer=ipv4:127\.0\.0\.1:\d+$",
        line.rstrip("\n"),
    ), line
    with (
        serve("--log-level", "warning") as server,
        GrpcBlobStore.from_url(f"grpc+http://{server.address}") as client,
    ):
        client.put(b"not logged")
    assert not [line for line in server.lines if "baostore.access" in line]


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_cache_hits_and_misses_are_counted() -> None:
    far = small_chunk_memory_store()
    digest = far.put(BLOB)
    tier = CacheStore(small_chunk_memory_store(), far)
    before = {
        result: count("baostore_cache_lookups_total", operation="open_read", result=result)
        for result in ("hit", "miss")
    }
    for _ in range(2):
        reader = tier.open_read(digest)
        assert reader is not None
        with reader:
            assert reader.read() == BLOB
    assert (
        count("baostore_cache_lookups_total", operation="open_read", result="miss")
        == before["miss"] + 1
    )
    assert (
        count("baostore_cache_lookups_total", operation="open_read", result="hit")
        == before["hit"] + 1
    )


def far_failures() -> float:
    return count("baostore_verification_failures_total", where="far")


def lying_far(digest: bytes) -> ByteFlippingStore:
    honest = small_chunk_memory_store()
    assert honest.put(BLOB) == digest
    return ByteFlippingStore(honest, digest, len(BLOB) // 2, 1024)


def test_a_far_member_that_lies_is_counted() -> None:
    digest = bao.hash(BLOB)
    before = far_failures()
    tier = CacheStore(small_chunk_memory_store(), lying_far(digest))
    reader = tier.open_read(digest)
    assert reader is not None
    with reader, pytest.raises(VerificationError):
        reader.read()
    assert far_failures() == before + 1
    # Substituters fail over to an honest member: the read succeeds, the lie is still counted.
    honest = small_chunk_memory_store()
    honest.put(BLOB)
    substituters = SubstitutersStore({"liar": lying_far(digest), "honest": honest})
    reader = substituters.open_read(digest)
    assert reader is not None
    with reader:
        assert reader.read() == BLOB
    assert far_failures() == before + 2


def test_data_the_server_cannot_send_intact_is_counted() -> None:
    store = small_chunk_memory_store()
    digest = store.put(BLOB)
    stat = store.stat(digest, send_bao=False)
    assert stat is not None and stat.chunks
    chunk = stat.chunks[0]
    store.backend.put(chunk_key(chunk.digest), b"\x00" * (chunk.size - 1))  # damaged on disk
    before = count("baostore_verification_failures_total", where="server")
    with (
        serve_in_thread(store) as url,
        GrpcBlobStore.from_url(url) as client,
        pytest.raises(StoreError) as failure,
    ):
        pieces = client.read_raw(digest)
        assert pieces is not None
        b"".join(pieces)
    assert isinstance(failure.value, DataLossError)
    assert count("baostore_verification_failures_total", where="server") == before + 1


def test_a_stderr_nobody_reads_neither_stalls_nor_hangs_the_server() -> None:
    """A full pipe on stderr: calls are still served (log lines are dropped, not waited for)
    and SIGTERM still ends the process."""
    command = [sys.executable, "-m", "baostore.cli", "serve", "--store", "memory://"]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        address = re.search(r" on (\S+)", process.stderr.readline())
        assert address is not None
        with GrpcBlobStore.from_url(f"grpc+http://{address.group(1)}") as client:
            digest = client.put(b"x")
            for _ in range(2000):  # ~200 bytes of log each: far more than a pipe holds
                assert client.has(digest)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)
