"""The Prometheus metrics of a baostore process, each defined once, here.

They live in prometheus_client's default registry, so ``baostore serve --metrics-listen`` exposes
them next to the process and Python runtime metrics. Code that has something to count imports
its metric from here and increments it: the server's call observer (baostore.grpc.observe), the
chunked store (rehashes), the cache tier (hits, misses) and the compositions that read far
members (verification failures). Counting costs a lock and an add; a process nobody scrapes
(a ``baostore get``) just never shows its counts.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "baostore_grpc_calls",
    "BlobService calls served, by method and status code",
    ["method", "code"],
)
ERRORS = Counter(
    "baostore_grpc_errors",
    "BlobService calls that ended with a status other than OK, by method and status code",
    ["method", "code"],
)
RECEIVED_BYTES = Counter(
    "baostore_grpc_received_bytes",
    "Bytes of request messages received, by method",
    ["method"],
)
SENT_BYTES = Counter(
    "baostore_grpc_sent_bytes",
    "Bytes of response messages sent, by method",
    ["method"],
)
CALL_SECONDS = Histogram(
    "baostore_grpc_call_duration_seconds",
    "How long BlobService calls took, by method",
    ["method"],
    buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0, 60.0, 300.0),
)
IN_FLIGHT = Gauge(
    "baostore_grpc_in_flight",
    "BlobService calls (Read and Put streams among them) being served now, by method",
    ["method"],
)
STAT_REHASHES = Counter(
    "baostore_stat_rehashes",
    "Stat answers for which a chunked store hashed a blob again, for a bao finer than the one "
    "it keeps",
)
VERIFICATION_FAILURES = Counter(
    "baostore_verification_failures",
    "Data that failed verification. where=server: calls this server ended with DATA_LOSS (data "
    "it was to send did not match its digest: its own damaged data, or a far member's in a "
    "caching proxy); where=far: answers of a far member (a cache tier's far store, a "
    "substituter) that did not verify, counted when caught, also when a failover then served "
    "the read",
    ["where"],
)
CACHE_LOOKUPS = Counter(
    "baostore_cache_lookups",
    "Lookups of a cache tier's near store, by operation (stat, open_read, read_raw) and result "
    "(hit: near answered; miss: far was asked)",
    ["operation", "result"],
)


def far_failed_verification() -> None:
    """Count an answer of a far member that did not verify."""
    VERIFICATION_FAILURES.labels("far").inc()
