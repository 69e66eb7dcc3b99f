"""``baostore hash``, ``outboard`` and ``verify``: BLAKE3 digests, outboards and checks of local
files, with no server needed (``verify --store`` takes the bao from a store instead of a file).

The work is done by ``baostore.bao`` and ``baostore.verify`` (outboards, ``check_file``); this
module parses, prints and picks exit statuses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from baostore import bao
from baostore.cli.arguments import digest_argument, range_argument, shift_argument, size_argument
from baostore.cli.failures import EXIT_DAMAGED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, fail
from baostore.cli.progress import bar_wanted, transfer_progress
from baostore.cli.ranges import ByteRange
from baostore.cli.transfer import BlobNotFoundError, output_file
from baostore.digests import format_digest
from baostore.sizes import format_size
from baostore.store.interface import DEFAULT_BAO_SHIFT, BlobStore
from baostore.verify.local import BlobBao, FileCheck, check_file, file_size
from baostore.verify.outboard import (
    BAO_CLI_FORMAT,
    BAO_CLI_SHIFT,
    OUTBOARD_FORMATS,
    Outboard,
    OutboardError,
    OutboardFormat,
)
from baostore.verify.ranges import Ranges
from baostore.verify.windowed import StoreBao

STDIN = "-"
# The human-readable verify report lists this many ranges of each kind; --json lists every one.
MAX_RANGES_SHOWN = 8


def add_file_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    store_options: argparse.ArgumentParser,
    progress_options: argparse.ArgumentParser,
) -> None:
    """The hash, outboard and verify subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    hash_command = commands.add_parser(
        "hash",
        formatter_class=formatter,
        help="print files' BLAKE3 digests, as b3sum does",
        description=(
            "Print the BLAKE3 digest of each file as b3sum does: 'HEX  NAME' lines (a name with a\n"
            "backslash or newline is escaped and its line starts with a backslash). Files are\n"
            "memory-mapped and large ones hashed on every core. - (or no FILE) reads stdin."
        ),
        epilog="examples:\n  baostore hash big.iso\n  tar c dir | baostore hash",
    )
    hash_command.add_argument(
        "files", metavar="FILE", nargs="*", default=[STDIN], help="files to hash; - is stdin"
    )

    outboard = commands.add_parser(
        "outboard",
        formatter_class=formatter,
        help="write a file's outboard (its bao), print its digest",
        description=(
            "Compute a file's bao and write it to OUT as an outboard file; print the file's\n"
            "BLAKE3 digest. Formats: pre_order (iroh-blobs' .obao4 at shift 4), leaves (the\n"
            "groups' chaining values; half the size) and bao (the bao CLI's outboard: its size\n"
            "in 8 bytes, then the shift-0 pre_order bao, as `bao encode --outboard` writes it).\n"
            "Keep the file's size with a pre_order or leaves outboard: verify needs it when the\n"
            "file is incomplete (the bao format holds it)."
        ),
        epilog=(
            "examples:\n"
            "  baostore outboard big.iso -o big.iso.obao4\n"
            "  baostore outboard big.iso -o big.iso.bao --format bao"
        ),
    )
    outboard.add_argument("file", metavar="FILE", help="the file; - reads stdin")
    outboard.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="where to write it; - is stdout"
    )
    _add_outboard_options(outboard, "of the outboard to write", default_format="pre_order")

    verify = commands.add_parser(
        "verify",
        parents=[store_options, progress_options],
        formatter_class=formatter,
        help="check a local file against a digest, group by group",
        description=(
            "Check every chunk group of FILE against the blob DIGEST and report which byte\n"
            "ranges verified and which are damaged or missing. The bao comes from an outboard\n"
            "file (--outboard) or, fetched and verified, from a store (--store URL, or the\n"
            "usual store choice). FILE may come from anywhere: a partial download, a copy with\n"
            "holes or bad blocks, a file too short or too long. It is read, never changed.\n\n"
            f"Exits {EXIT_OK} only when FILE is exactly the blob, {EXIT_DAMAGED} when it is not\n"
            f"(partial: some ranges missing or damaged, or extra bytes), {EXIT_ERROR} when it\n"
            "could not be checked (or changed while it was read)."
        ),
        epilog=(
            "examples:\n"
            "  baostore verify big.iso DIGEST --outboard big.iso.obao4\n"
            "  baostore verify big.iso DIGEST --outboard big.iso.bao --format bao\n"
            "  baostore verify big.iso DIGEST --store grpc+http://mirror:50051 --json"
        ),
    )
    verify.add_argument("file", metavar="FILE", help="the local file to check")
    verify.add_argument("digest", metavar="DIGEST", type=digest_argument, help="the blob's digest")
    verify.add_argument(
        "--outboard", metavar="OB", help="the blob's outboard file (else: ask the store)"
    )
    _add_outboard_options(verify, "of the outboard (or the bao to ask the store for)")
    verify.add_argument(
        "--size",
        metavar="SIZE",
        type=size_argument,
        help="the blob's size, for a pre_order or leaves outboard (default: FILE's size)",
    )
    verify.add_argument(
        "--range",
        metavar="A:B",
        type=range_argument,
        default=ByteRange(),
        help="FILE holds only the blob's bytes A to B (a `get --range` output)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")


def _add_outboard_options(
    parser: argparse.ArgumentParser, what: str, default_format: OutboardFormat | None = None
) -> None:
    parser.add_argument(
        "--shift",
        metavar="N",
        type=shift_argument,
        help=f"chunk-group shift {what}: groups of 1024 << N bytes (default 4; bao: 0)",
    )
    parser.add_argument(
        "--format",
        choices=OUTBOARD_FORMATS,
        default=default_format,
        help=f"format {what} (default pre_order)",
    )


def storeless_command(args: argparse.Namespace) -> Callable[[], int] | None:
    """The command to run without opening a store, or None when it needs one."""
    if args.command == "hash":
        return lambda: run_hash(args)
    if args.command == "outboard":
        return lambda: run_outboard(args)
    if args.command == "verify" and args.outboard is not None:
        if args.store is not None or args.config is not None:
            return lambda: fail("give either --outboard or a store, not both", EXIT_USAGE)
        return lambda: run_verify_outboard(args)
    return None


# -- hash ---------------------------------------------------------------------------------


def run_hash(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for name in args.files:
        try:
            digest = bao.hash_file("/dev/stdin" if name == STDIN else name)
        except OSError as error:
            status = fail(f"{name}: {error.strerror or error}", EXIT_ERROR)
            continue
        print(b3sum_line(digest, name), flush=True)
    return status


def b3sum_line(digest: bytes, name: str) -> str:
    """``HEX  NAME`` as b3sum prints it: the name as UTF-8 (undecodable bytes replaced), a
    backslash or newline in it escaped, and then the line marked by a leading backslash."""
    text = os.fsencode(name).decode("utf-8", "replace")
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    marker = "\\" if escaped != text else ""
    return f"{marker}{digest.hex()}  {escaped}"


# -- outboard -----------------------------------------------------------------------------


def run_outboard(args: argparse.Namespace) -> int:
    format: OutboardFormat = args.format
    shift = _shift_for(format, args.shift)
    if shift is None:
        return fail(f"the bao format is at shift {BAO_CLI_SHIFT} only", EXIT_USAGE)
    outboard = Outboard.of_file(args.file, shift, threads=os.cpu_count() or 1)
    encoded = outboard.encode(format)
    if args.output == STDIN:
        sys.stdout.buffer.write(encoded)
        sys.stdout.buffer.flush()
        print(format_digest(outboard.digest), file=sys.stderr)
    else:
        with output_file(Path(args.output)) as output:
            output.write(encoded)
        print(format_digest(outboard.digest))
    return EXIT_OK


def _shift_for(format: OutboardFormat | None, shift: int | None) -> int | None:
    """The shift of an outboard in ``format`` (``shift`` as given, or the format's own);
    None when the bao CLI's format is asked for at another shift."""
    if format == BAO_CLI_FORMAT:
        return BAO_CLI_SHIFT if shift in (None, BAO_CLI_SHIFT) else None
    return DEFAULT_BAO_SHIFT if shift is None else shift


# -- verify -------------------------------------------------------------------------------


def run_verify_outboard(args: argparse.Namespace) -> int:
    """``verify --outboard``: the bao from a file."""
    format: OutboardFormat = args.format or "pre_order"
    shift = _shift_for(format, args.shift)
    if shift is None:
        return fail(f"the bao format is at shift {BAO_CLI_SHIFT} only", EXIT_USAGE)
    size = args.size
    if size is None and format != BAO_CLI_FORMAT:
        if args.range != ByteRange():
            return fail(
                f"a {format} outboard does not hold the blob's size: give --size", EXIT_USAGE
            )
        size = file_size(args.file)
        try:
            outboard = Outboard.load(args.outboard, args.digest, format, shift=shift, size=size)
        except OutboardError as error:
            raise OutboardError(
                f"{error}; the size was taken from {args.file}: give the blob's size with "
                "--size if the file is incomplete"
            ) from None
    else:
        outboard = Outboard.load(args.outboard, args.digest, format, shift=shift, size=size)
    return _report(args, outboard)


def run_verify(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    """``verify`` against a store: its bao of the blob, fetched and checked against the digest."""
    if args.format == BAO_CLI_FORMAT:
        return fail("--format bao names an outboard file's format: give --outboard", EXIT_USAGE)
    shift = DEFAULT_BAO_SHIFT if args.shift is None else args.shift
    outboard = StoreBao.open(store, args.digest, shift=shift, format=args.format or "pre_order")
    if outboard is None:
        raise BlobNotFoundError(args.digest, url)
    return _report(args, outboard)


def _report(args: argparse.Namespace, outboard: BlobBao) -> int:
    start, end = args.range.within(outboard.size)
    total = end - start
    show_bar = bar_wanted(total, enabled=not args.no_progress)
    with transfer_progress("verify", total, enabled=show_bar) as advance:
        check = check_file(args.file, outboard, start=start, end=end, advance=advance)
    if args.json:
        print(json.dumps({"file": args.file, **check.record()}))
    else:
        print("\n".join(check_lines(args.file, check)))
    if check.changed:
        return fail(
            f"{args.file} changed while it was verified: the result does not hold; verify "
            "again when nothing writes to it",
            EXIT_ERROR,
        )
    return EXIT_OK if check.complete else EXIT_DAMAGED


def check_lines(name: str, check: FileCheck) -> list[str]:
    """The human-readable ``verify`` report."""
    what = f"blob {format_digest(check.digest)}"
    if (check.start, check.end) != (0, check.blob_size):
        what += f" bytes {check.start}:{check.end}"
    expected = check.end - check.start
    if check.complete:
        return [f"{name}: complete: {what} ({format_size(expected)}), every byte verified"]
    lines = [
        f"{name}: partial: {check.verified.total} of {expected} bytes of {what} verified",
        f"  verified  {_listed(check.verified)}",
        f"  damaged   {_listed(check.damaged)}",
        f"  missing   {_listed(check.missing)}",
    ]
    if check.file_size < expected:
        lines.append(f"  the file is shorter than the blob: {check.file_size} of {expected} bytes")
    if check.extra:
        lines.append(f"  the file is longer than the blob: {check.extra} bytes past its end")
    return lines


def _listed(ranges: Ranges) -> str:
    """``ranges`` for a line of text: the first few, and how many more (--json has them all)."""
    if len(ranges) <= MAX_RANGES_SHOWN:
        return str(ranges)
    shown = Ranges(ranges.spans[:MAX_RANGES_SHOWN])
    return f"{shown} ... {len(ranges) - MAX_RANGES_SHOWN} more (--json lists them all)"
