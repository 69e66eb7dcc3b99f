"""The ``baostore`` command: serve a store over gRPC, put, get and stat blobs."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from baostore import bao
from baostore.cli.arguments import digest_argument, range_argument, shift_argument
from baostore.cli.environment import tune_allocator
from baostore.cli.failures import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    broken_pipe,
    exit_status,
    fail,
    os_error_message,
)
from baostore.cli.progress import bar_wanted, metered, summary, transfer_progress
from baostore.cli.ranges import ByteRange
from baostore.cli.transfer import (
    BlobNotFoundError,
    put_stream,
    shift_note,
    stat_lines,
    stat_record,
)
from baostore.config import CONFIG_ENV, DEFAULT_ROOT, ConfigError, open_from_config
from baostore.digests import format_digest
from baostore.errors import MissingStoreError
from baostore.open import default_store_url, open_store
from baostore.store.interface import (
    BAO_FORMATS,
    DEFAULT_BAO_SHIFT,
    BlobStore,
    StoreError,
)

# Every command, in the order the overview lists them. The modules behind a command (its parser
# and what it runs) are imported only when the command line names it, or asks for the
# overview: a command loads what it runs and no other command's stack (gRPC, rich, obstore).
COMMAND_NAMES = (
    "serve",
    "put",
    "get",
    "stat",
    "fsck",
    "gc",
    "ls",
    "rm",
    "shift-report",
    "hash",
    "outboard",
    "verify",
)
# Where the commands that open a store are run: module and function.
STORE_COMMANDS = {
    "serve": ("baostore.cli.serve", "run_serve"),
    "put": ("baostore.cli.main", "run_put"),
    "get": ("baostore.cli.fetch", "run_get"),
    "stat": ("baostore.cli.main", "run_stat"),
    "fsck": ("baostore.cli.fsck", "run_fsck"),
    "gc": ("baostore.cli.gc", "run_gc"),
    "verify": ("baostore.cli.files", "run_verify"),
    "ls": ("baostore.cli.listing", "run_ls"),
    "rm": ("baostore.cli.listing", "run_rm"),
}
FILE_COMMANDS = frozenset({"hash", "outboard", "verify"})
# Commands that mostly receive streams: their process keeps freed memory for reuse (see
# tune_allocator; a server taking Puts runs slower with it).
RECEIVING_COMMANDS = frozenset({"get", "verify"})

STORE_ENV = "BAOSTORE_URL"
# Only these commands create a store that does not exist yet; the others only read (or remove)
# and say "no store at PATH" for a mistyped one.
CREATING_COMMANDS = frozenset({"put", "serve"})

DESCRIPTION = """\
baostore: a content-addressed BLAKE3 blob store with verified streaming.

Blobs are named by their BLAKE3 digest, printed as 64 hex characters (as b3sum prints them);
b3:<base64> is accepted too. Every command works on a store given by URL:

  memory://                             in this process only (useful with `serve`)
  file:///PATH                          a directory on disk
  s3://BUCKET/PREFIX?endpoint=URL&region=R
  grpc+http://HOST:PORT                 a `baostore serve` (or Tvix/Snix castore) server
  grpc+unix:///PATH                     the same over a unix socket

Or --config FILE: a TOML file of named stores composed in tiers (a cache in front of remotes
tried in turn); --root NAME picks the store to use (default root). See docs/deployment.md.

The store is --store URL, else --config FILE, else $BAOSTORE_URL, else $BAOSTORE_CONFIG, else
the embedded on-disk store in your user data directory ({default}).
"""

EPILOG = """\
examples:
  baostore serve --store file:///srv/blobs --listen 127.0.0.1:50051
  export BAOSTORE_URL=grpc+http://127.0.0.1:50051
  baostore put big.iso                      # prints the digest
  baostore get DIGEST -o copy.iso
  baostore get DIGEST -o head.bin --range 0:1048576
  baostore stat DIGEST --json
  baostore verify download.iso DIGEST       # which byte ranges are the blob?

exit status:
  0  success
  1  error (unreachable server, I/O error, corrupt or short data)
  2  usage error (bad option, bad digest, bad store URL, no store at that path)
  3  blob not found
  4  damage found: verify found the file partial (ranges missing or damaged, or extra
     bytes); fsck found damage (removed with --repair)
  130  interrupted (Ctrl-C)
"""


class VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked (importlib.metadata is slow to load,
    and every command would pay for it at start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from baostore.version import __version__

        print(f"baostore {__version__}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command-line parser: of every command (None), or only of ``command`` (one of
    COMMAND_NAMES), which parses that command's lines exactly as the whole parser does, or of
    none ("": enough for ``--version``)."""

    def wanted(*names: str) -> bool:
        return command is None or command in names

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="baostore",
        description=DESCRIPTION.format(default=default_store_url()),
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    store_options = argparse.ArgumentParser(add_help=False)
    store_choice = store_options.add_mutually_exclusive_group()
    store_choice.add_argument(
        "--store",
        metavar="URL",
        help=f"the store to use (default: ${STORE_ENV}, else the embedded on-disk store)",
    )
    store_choice.add_argument(
        "--config",
        metavar="FILE",
        help=f"a TOML file of named stores (default: ${CONFIG_ENV} when ${STORE_ENV} is unset)",
    )
    store_options.add_argument(
        "--root",
        metavar="NAME",
        help=f"the store of the config file to use (default {DEFAULT_ROOT})",
    )
    progress_options = argparse.ArgumentParser(add_help=False)
    progress_options.add_argument(
        "--no-progress",
        action="store_true",
        help="never draw a progress bar (bars only appear on a terminal, for big transfers)",
    )

    if wanted("serve"):
        from baostore.cli.serve import add_serve_command

        add_serve_command(commands, [store_options])

    summary_options = argparse.ArgumentParser(add_help=False)
    summary_options.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no summary line on stderr (size, time, rate, digest) and no progress bar",
    )

    if wanted("put"):
        _add_put_command(commands, [store_options, progress_options, summary_options])
    if wanted("get"):
        _add_get_command(commands, [store_options, progress_options, summary_options])
    if wanted("stat"):
        _add_stat_command(commands, [store_options])
    if wanted("fsck"):
        from baostore.cli.fsck import add_fsck_command

        add_fsck_command(commands, [store_options, progress_options])
    if wanted("gc"):
        from baostore.cli.gc import add_gc_command

        add_gc_command(commands, [store_options])
    if wanted("ls", "rm"):
        from baostore.cli.listing import add_listing_commands

        add_listing_commands(commands, [store_options])
    if wanted("shift-report"):
        from baostore.cli.shift_report import add_shift_report_command

        add_shift_report_command(commands)
    if wanted(*FILE_COMMANDS):
        from baostore.cli.files import add_file_commands

        add_file_commands(commands, store_options, progress_options)
    return parser


def _add_put_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    put = commands.add_parser(
        "put",
        parents=parents,
        formatter_class=formatter,
        help="store files, print their digests",
        description=(
            "Store files (or stdin) and print each one's BLAKE3 digest as 64 hex characters,\n"
            "one line per PATH in the order given; stops at the first that fails. Each put ends\n"
            "with a summary line on stderr unless -q. A file:// store that does not exist is\n"
            "created."
        ),
        epilog=(
            "examples:\n  baostore put photo.jpg\n  baostore put *.iso\n"
            "  tar c dir | baostore put -"
        ),
    )
    put.add_argument("paths", metavar="PATH", nargs="+", help="the files to store; - reads stdin")


def _add_get_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    from baostore.cli.fetch import add_cache_options

    formatter = argparse.RawDescriptionHelpFormatter
    get = commands.add_parser(
        "get",
        parents=parents,
        formatter_class=formatter,
        help="fetch a blob into a file",
        description=(
            "Fetch a blob (or a byte range of it) into a file. The data goes to a temporary file\n"
            "beside the target, renamed into place only when everything verified: a failed get\n"
            "exits non-zero and leaves no new output file (an existing target it was completing\n"
            "is given back, with only verified bytes written into it).\n\n"
            "From a remote store every byte is verified against the digest before it is written\n"
            "(a lying server is caught within one chunk group), chunks already in the local\n"
            "chunk cache or in seeds (--seed) are not fetched, and a range fetches only the\n"
            "chunks covering it. What is already there is completed, not fetched again: the\n"
            "partial of an interrupted get\n"
            "(<target>.<first 32 hex digits of the digest>.baostore-partial), else the target\n"
            "itself, is checked group by group, and only the chunks covering missing or damaged\n"
            "groups are fetched (a target that already is the blob costs its proofs only: one\n"
            "Stat up to 64 MiB)."
        ),
        epilog=(
            "examples:\n"
            "  baostore get DIGEST -o out.bin\n"
            "  baostore get b3:BASE64 -o part.bin --range 4096:8192\n"
            "  baostore get NEW -o disk.img --seed disk.img   # fetch only what changed\n"
            "  baostore get DIGEST -o - | sha256sum"
        ),
    )
    get.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the blob's digest")
    get.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        required=True,
        help="where to write the blob; - writes to stdout",
    )
    get.add_argument(
        "--range",
        metavar="A:B",
        type=range_argument,
        default=ByteRange(),
        help="write only bytes A (inclusive) to B (exclusive); either side may be left out; "
        "sizes take units (1MiB:2MiB)",
    )
    _add_bao_options(get, "the bao to verify remote reads with")
    add_cache_options(get)


def _add_stat_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    stat = commands.add_parser(
        "stat",
        parents=parents,
        formatter_class=formatter,
        help="describe a blob: size, chunks, bao",
        description=(
            "Describe a blob: its size, its content-defined chunks and its bao (the BLAKE3\n"
            "outboard above chunk groups of 1024 << SHIFT bytes). A server may answer with a\n"
            "coarser shift than asked for, to keep its answer under 4 MiB; the shift shown is\n"
            "the one used. Exits 3 if the blob is absent."
        ),
        epilog="examples:\n  baostore stat DIGEST\n  baostore stat DIGEST --shift 0 --json",
    )
    stat.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the blob's digest")
    stat.add_argument("--json", action="store_true", help="print one JSON object")
    stat.add_argument("--with-bao", action="store_true", help="include the bao (hex) in --json")
    _add_bao_options(stat, "the bao to describe")


def _add_bao_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--shift",
        metavar="N",
        type=shift_argument,
        default=DEFAULT_BAO_SHIFT,
        help=f"chunk-group shift of {what}: groups of 1024 << N bytes "
        f"(0..{bao.MAX_SHIFT}, default {DEFAULT_BAO_SHIFT})",
    )
    parser.add_argument(
        "--format",
        choices=BAO_FORMATS,
        default="pre_order",
        help=f"layout of {what} (default pre_order)",
    )


def store_url(option: str | None) -> str:
    """The store URL: --store, else $BAOSTORE_URL, else the embedded on-disk store."""
    return option or os.environ.get(STORE_ENV) or default_store_url()


def open_selected_store(args: argparse.Namespace) -> tuple[BlobStore, str]:
    """The store the options name, and how to name it in messages (``FILE#ROOT`` for a config).

    --store, else --config (with --root), else $BAOSTORE_URL, else $BAOSTORE_CONFIG, else the
    embedded store. ConfigError (a ValueError) for a bad config or a --root without one.
    """
    config = args.config
    if config is None and args.store is None and not os.environ.get(STORE_ENV):
        config = os.environ.get(CONFIG_ENV) or None
    if config is None:
        if args.root is not None:
            raise ConfigError("--root NAME picks a store of a config file: give --config FILE")
        url = store_url(args.store)
        return _open_url(url, args), url
    root = args.root or DEFAULT_ROOT
    return open_from_config(config, root), f"{config}#{root}"


def _open_url(url: str, args: argparse.Namespace) -> BlobStore:
    """The store ``url`` names; created if missing only by CREATING_COMMANDS, which then set
    ``args.created_store`` (MissingStoreError for the others)."""
    try:
        return open_store(url, create=False)
    except MissingStoreError:
        if args.command not in CREATING_COMMANDS:
            raise
    args.created_store = True
    return open_store(url)


def run_put(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    del url
    for name in args.paths:
        with metered() as meter:
            if name == "-":
                digest = _put_from(sys.stdin.buffer, None, store, args)
            else:
                with Path(name).open("rb") as source:
                    total = os.fstat(source.fileno()).st_size
                    digest = _put_from(source, total, store, args)
        print(format_digest(digest), flush=True)
        if not args.quiet:
            shown = "stdin" if name == "-" else name
            print(summary(f"put {shown}", meter, format_digest(digest)), file=sys.stderr)
    return EXIT_OK


def _put_from(
    source: BinaryIO, total: int | None, store: BlobStore, args: argparse.Namespace
) -> bytes:
    enabled = bar_wanted(total, enabled=not (args.no_progress or args.quiet))
    with transfer_progress("put", total, enabled=enabled) as advance:
        return put_stream(store, source, advance)


def run_stat(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    stat = store.stat(
        args.digest, send_chunks=True, send_bao=True, bao_shift=args.shift, bao_format=args.format
    )
    if stat is None:
        raise BlobNotFoundError(args.digest, url)
    if args.json:
        record = stat_record(args.digest, stat, with_bao=args.with_bao)
        print(json.dumps({**record, "requested_bao_shift": args.shift}))
    else:
        note = shift_note(args.shift, stat)
        print("\n".join([*stat_lines(args.digest, stat), *([note] if note else [])]))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    line = sys.argv[1:] if argv is None else list(argv)
    named = line[0] if line and line[0] in COMMAND_NAMES else None
    if line == ["--version"]:
        named = ""
    args = build_parser(named).parse_args(line)
    args.created_store = False
    if args.command in RECEIVING_COMMANDS:
        tune_allocator()
    if args.command == "shift-report":  # measures on its own loopback server by default
        from baostore.cli.shift_report import run_shift_report

        return run_shift_report(args)
    if args.command in FILE_COMMANDS:
        from baostore.cli.files import storeless_command

        local = storeless_command(args)
        if local is not None:
            return reported(local)
    try:
        store, url = open_selected_store(args)
    except ConfigError as error:
        return fail(f"bad store configuration: {error}", EXIT_USAGE)
    except MissingStoreError as error:
        return fail(f"{error} (only put and serve create a store: check the path)", EXIT_USAGE)
    except ValueError as error:
        return fail(f"bad store URL: {error}", EXIT_USAGE)
    except (OSError, StoreError) as error:
        return fail(f"cannot open the store: {error}", EXIT_ERROR)

    module, function = STORE_COMMANDS[args.command]
    runner: Callable[[argparse.Namespace, BlobStore, str], int] = getattr(
        importlib.import_module(module), function
    )

    def run() -> int:
        with store:
            return runner(args, store, url)

    return reported(run)


def reported(command: Callable[[], int]) -> int:
    """Run ``command``; a failure becomes one line on stderr and its exit status."""
    try:
        return command()
    except StoreError as error:
        return fail(str(error), exit_status(error))
    except ValueError as error:
        return fail(str(error), EXIT_ERROR)
    except BrokenPipeError:
        return broken_pipe()
    except OSError as error:
        return fail(os_error_message(error), EXIT_ERROR)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
