"""``baostore ls`` and ``baostore rm``: the blobs a store holds, and removing them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from baostore.cli.arguments import digest_argument
from baostore.cli.failures import EXIT_NOT_FOUND, EXIT_OK, fail
from baostore.digests import format_digest
from baostore.store.interface import BlobEntry, BlobStore

LS_DESCRIPTION = """\
List the blobs a store holds, one line each: digest, size in bytes, and how many chunks hold its
data, in no set order (pipe through sort for one). Chunks a chunk cache keeps on their own are
not blobs and are not listed. A cache tier lists both tiers, substituters every member.

A gRPC server cannot be listed: the BlobService protocol has no call for it. List the server's
own store instead (its --store URL)."""

RM_DESCRIPTION = """\
Remove blobs from a store: each blob's record goes, so it is no longer listed, stat'ed or served
as a blob. Its chunks stay until `baostore gc` reclaims the ones no other blob uses (chunks are
shared between blobs); until then a blob small enough to be a single chunk can still be read by
its digest, as any chunk of the store can. A cache tier removes the blob from both tiers.

Exits 3 if a blob was not there (after removing the others), unless --force. A gRPC server
cannot remove blobs: the BlobService protocol has no call for it."""


def add_listing_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    ls = commands.add_parser(
        "ls",
        parents=list(parents),
        formatter_class=formatter,
        help="list the blobs of a store: digest, size, chunk count",
        description=LS_DESCRIPTION,
        epilog=(
            "examples:\n  baostore ls --store file:///srv/blobs\n  baostore ls --json | jq .size"
        ),
    )
    ls.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per line: {"digest": HEX, "size": N, "chunk_count": N}',
    )
    rm = commands.add_parser(
        "rm",
        parents=list(parents),
        formatter_class=formatter,
        help="remove blobs (their records; gc reclaims the chunks)",
        description=RM_DESCRIPTION,
        epilog="examples:\n  baostore rm DIGEST --store file:///srv/blobs\n"
        "  baostore rm DIGEST && baostore gc --store file:///srv/blobs",
    )
    rm.add_argument(
        "digests", metavar="DIGEST", nargs="+", type=digest_argument, help="the blobs to remove"
    )
    rm.add_argument(
        "-f", "--force", action="store_true", help="a blob that is not there is no error"
    )


def run_ls(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    del url
    for entry in store.list_blobs():
        print(_json_line(entry) if args.json else _text_line(entry))
    sys.stdout.flush()
    return EXIT_OK


def run_rm(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    status = EXIT_OK
    for digest in args.digests:
        if not store.remove(digest) and not args.force:
            status = fail(f"blob {format_digest(digest)} not found in {url}", EXIT_NOT_FOUND)
    return status


def _text_line(entry: BlobEntry) -> str:
    return f"{format_digest(entry.digest)}  {entry.size}  {entry.chunk_count}"


def _json_line(entry: BlobEntry) -> str:
    record = {
        "digest": format_digest(entry.digest),
        "size": entry.size,
        "chunk_count": entry.chunk_count,
    }
    return json.dumps(record)
