"""``baostore serve``: a store behind the gRPC server, with its access and limit options."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import prometheus_client

from baostore.cli.arguments import argument, rate_argument, size_argument
from baostore.cli.failures import EXIT_ERROR, EXIT_OK, fail
from baostore.cli.logs import LOG_FORMATS, LOG_LEVELS, server_logging
from baostore.grpc.limits import (
    DEFAULT_EXPENSIVE_WAIT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BLOB_SIZE,
    DEFAULT_MAX_CONCURRENT_PUTS,
    DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_EXPENSIVE_STATS,
    DEFAULT_PUT_SLOT_TIMEOUT,
    ServerLimits,
)
from baostore.grpc.rate import DEFAULT_SERVER_MIN_RATE
from baostore.grpc.security import ServerSecurity, ServerTls, read_token_file
from baostore.grpc.services import MAX_MESSAGE_SIZE
from baostore.store.interface import BlobStore

DEFAULT_LISTEN = "127.0.0.1:50051"


def add_serve_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    serve = commands.add_parser(
        "serve",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="serve a store over gRPC",
        description=(
            "Serve a store over gRPC as baostore.v1.BlobService, and under the Tvix and Snix\n"
            "names (tvix.castore.v1.BlobService, snix.castore.v1.BlobService) so their clients\n"
            "work unchanged. gRPC health and reflection are served too. SIGTERM or Ctrl-C stops\n"
            "the server gracefully: running calls get --grace seconds to finish."
        ),
        epilog=(
            "examples:\n"
            "  baostore serve --listen 127.0.0.1:50051\n"
            "  baostore serve --config /etc/baostore.toml   # a caching proxy, for example\n"
            "  baostore serve --store memory:// --listen unix:/run/baostore.sock"
        ),
    )
    serve.add_argument(
        "--listen",
        metavar="ADDRESS",
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT or unix:/PATH to listen on (default {DEFAULT_LISTEN}; port 0 picks one)",
    )
    serve.add_argument(
        "--grace",
        metavar="SECONDS",
        type=float,
        default=5.0,
        help="how long running calls may finish after a stop signal (default 5)",
    )
    _add_security_options(serve)
    _add_limit_options(serve)
    _add_observability_options(serve)


def run_serve(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    # Imported here: the gRPC server stack is only needed to serve.
    from baostore.grpc.server import serve

    security = _security_from_args(args)
    limits = _limits_from_args(args)
    created = " (a new, empty store: there was none at that path)" if args.created_store else ""
    started = False
    with contextlib.ExitStack() as stack:
        stack.enter_context(server_logging(args.log_level, args.log_format))
        metrics = ""
        if args.metrics_listen is not None:
            try:
                metrics = f" (metrics: {_serve_metrics(args.metrics_listen, stack)})"
            except OSError as error:
                reason = (error.strerror or str(error)).lower()
                host, port = args.metrics_listen
                return fail(f"cannot serve metrics on {host}:{port}: {reason}", EXIT_ERROR)

        def announce(address: str) -> None:
            nonlocal started
            started = True
            line = f"baostore: serving {url} on {address}{metrics}{created}"
            print(line, file=sys.stderr, flush=True)

        try:
            asyncio.run(
                serve(
                    store,
                    args.listen,
                    grace=args.grace,
                    on_started=announce,
                    security=security,
                    limits=limits,
                )
            )
        except OSError as error:
            if started:
                raise
            return fail(listen_failure(args.listen, error), EXIT_ERROR)
    return EXIT_OK


def _serve_metrics(listen: tuple[str, int], stack: contextlib.ExitStack) -> str:
    """Serve the Prometheus metrics over HTTP on ``listen`` until ``stack`` closes; the URL."""
    host, port = listen
    server, thread = prometheus_client.start_http_server(port, addr=host)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    stack.callback(stop)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_address[1]}/metrics"


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` as ``(host, port)``; port 0 picks a free one."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:9100)")
    return host, int(port)


def listen_failure(listen: str, error: OSError) -> str:
    """One line saying why ``listen`` could not be bound: the operating system's own reason,
    found by binding a plain socket there (gRPC's says only that binding failed)."""
    reason = _bind_probe(listen)
    if reason is None:  # it binds now: say what gRPC said, without its log-level advice
        reason = str(error).partition("; set GRPC_VERBOSITY")[0]
        return (
            reason if reason.startswith("cannot listen") else f"cannot listen on {listen}: {reason}"
        )
    return f"cannot listen on {listen}: {reason}"


def _bind_probe(listen: str) -> str | None:
    """Why a socket cannot be bound at ``listen`` (None: it can)."""
    address: str | tuple[Any, ...]
    if listen.startswith("unix:"):
        path = Path(listen.removeprefix("unix:").removeprefix("//"))
        if not path.parent.is_dir():
            return f"directory {path.parent} does not exist"
        family, address = socket.AF_UNIX, str(path)
    else:
        try:
            host, port = parse_host_port(listen)
            family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except (ValueError, OSError) as error:
            return str(error)
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family != socket.AF_UNIX:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        probe.bind(address)
    except OSError as error:
        return (error.strerror or str(error)).lower()
    else:
        if family == socket.AF_UNIX:
            Path(str(address)).unlink(missing_ok=True)  # the probe made it
        return None
    finally:
        probe.close()


def _add_security_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("access")
    group.add_argument("--tls-cert", metavar="PATH", help="serve TLS with this certificate (PEM)")
    group.add_argument("--tls-key", metavar="PATH", help="the TLS certificate's private key")
    group.add_argument(
        "--tls-client-ca",
        metavar="PATH",
        help="require client certificates issued by this CA (mutual TLS)",
    )
    group.add_argument(
        "--write-token-file",
        metavar="PATH",
        help="Put needs 'authorization: Bearer TOKEN' with the token in this file",
    )
    group.add_argument(
        "--read-token-file",
        metavar="PATH",
        help="Stat and Read need this token (or the write token); without it reads are open",
    )
    group.add_argument(
        "--insecure-listen",
        action="store_true",
        help="allow listening beyond loopback without TLS (tokens then travel in clear)",
    )


def _add_observability_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logs and metrics")
    group.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="info (the default) logs one line per call: method, service, digest prefix, bytes "
        "received and sent, duration, status, peer; warning logs failures only",
    )
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text lines, or one JSON object per line with each field on its own (default text)",
    )
    group.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        type=argument(parse_host_port),
        help="serve Prometheus metrics at http://HOST:PORT/metrics: calls and errors by method "
        "and status, bytes, durations, streams in flight, Stat rehashes, verification "
        "failures, cache hits and misses",
    )


def _security_from_args(args: argparse.Namespace) -> ServerSecurity:
    """The ServerSecurity the serve options describe; ValueError for an inconsistent set."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
    tls = None
    if args.tls_cert is not None:
        tls = ServerTls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
    return ServerSecurity(
        tls=tls,
        write_token=None
        if args.write_token_file is None
        else read_token_file(args.write_token_file),
        read_token=None if args.read_token_file is None else read_token_file(args.read_token_file),
        insecure_listen=args.insecure_listen,
    )


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits")
    group.add_argument(
        "--max-blob-size",
        metavar="SIZE",
        type=size_argument,
        default=DEFAULT_MAX_BLOB_SIZE,
        help="refuse Puts of bigger blobs (default 16GiB)",
    )
    group.add_argument(
        "--max-concurrent-streams",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_CONCURRENT_STREAMS,
        help=f"calls served at once; more are refused (default {DEFAULT_MAX_CONCURRENT_STREAMS})",
    )
    group.add_argument(
        "--max-concurrent-puts",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_CONCURRENT_PUTS,
        help="Puts stored at once; more wait their turn "
        f"(default {DEFAULT_MAX_CONCURRENT_PUTS}, ~18 MiB of memory each)",
    )
    group.add_argument(
        "--put-slot-timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_PUT_SLOT_TIMEOUT,
        help="a Put that waited this long for its turn is refused: server busy "
        f"(default {DEFAULT_PUT_SLOT_TIMEOUT:g})",
    )
    group.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="cancel a Put or Read stream that moves no data this long "
        f"(default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    group.add_argument(
        "--min-rate",
        metavar="SIZE/SECONDS",
        type=rate_argument,
        default=DEFAULT_SERVER_MIN_RATE,
        help="cancel a Put or Read stream that moves less than SIZE in a window of SECONDS "
        "spent waiting for the client: a byte now and then is not idle, but too slow "
        f"(default {DEFAULT_SERVER_MIN_RATE}; 0/1s: no minimum)",
    )
    group.add_argument(
        "--max-message-size",
        metavar="SIZE",
        type=size_argument,
        default=MAX_MESSAGE_SIZE,
        help="largest message accepted (default 4MiB)",
    )
    group.add_argument(
        "--max-expensive-stats",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_EXPENSIVE_STATS,
        help="Stats that rehash data (a bao finer than the stored one) run at once, in a pool "
        f"of their own; more wait (default {DEFAULT_MAX_EXPENSIVE_STATS})",
    )
    group.add_argument(
        "--expensive-wait",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_EXPENSIVE_WAIT,
        help="refuse (RESOURCE_EXHAUSTED) a Stat that rehashes data after waiting this long for "
        f"its turn (default {DEFAULT_EXPENSIVE_WAIT:g})",
    )


def _limits_from_args(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        max_blob_size=args.max_blob_size,
        max_concurrent_streams=args.max_concurrent_streams,
        max_concurrent_puts=args.max_concurrent_puts,
        idle_timeout=args.idle_timeout,
        max_message_size=args.max_message_size,
        min_rate=args.min_rate,
        put_slot_timeout=args.put_slot_timeout,
        max_expensive_stats=args.max_expensive_stats,
        expensive_wait=args.expensive_wait,
    )
