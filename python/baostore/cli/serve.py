"""``baostore serve``: a store behind the gRPC server, with its access and limit options."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from baostore.cli.arguments import rate_argument, size_argument
from baostore.cli.failures import EXIT_OK
from baostore.grpc.limits import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BLOB_SIZE,
    DEFAULT_MAX_CONCURRENT_PUTS,
    DEFAULT_MAX_CONCURRENT_STREAMS,
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


def run_serve(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    # Imported here: the gRPC server stack is only needed to serve.
    from baostore.grpc.server import serve

    def announce(address: str) -> None:
        print(f"baostore: serving {url} on {address}", file=sys.stderr, flush=True)

    security = _security_from_args(args)
    limits = _limits_from_args(args)
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
    return EXIT_OK


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


def _limits_from_args(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        max_blob_size=args.max_blob_size,
        max_concurrent_streams=args.max_concurrent_streams,
        max_concurrent_puts=args.max_concurrent_puts,
        idle_timeout=args.idle_timeout,
        max_message_size=args.max_message_size,
        min_rate=args.min_rate,
        put_slot_timeout=args.put_slot_timeout,
    )
