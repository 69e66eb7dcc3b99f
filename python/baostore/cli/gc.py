"""``baostore gc``: remove the chunks no blob uses, safely while Puts run."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from baostore.cli.arguments import duration_argument
from baostore.cli.failures import EXIT_OK, EXIT_USAGE, fail
from baostore.sizes import format_size
from baostore.store.chunked import ChunkedStore
from baostore.store.gc import DEFAULT_GRACE, GcReport, collect_garbage
from baostore.store.interface import BlobStore

DESCRIPTION = """\
Remove what no blob needs from a store (memory://, file://, s3://): chunks no record uses (left
by removed blobs, by Puts that were refused, cancelled or died, by a chunk cache), and the
leftovers of writers that died. It is safe while other processes put blobs into the same store:
a Put announces every chunk it is about to use before it uses it, gc announces what it is about
to delete before it deletes it, and each waits for or spares the other (docs/architecture.md).

Chunks younger than --grace are kept anyway: a margin for writers that do not announce what they
write (a chunk cache, another version of baostore). Records are never removed: `baostore rm`
does that. A damaged record stops gc before it removes anything (run `baostore fsck --repair`).
"""


def add_gc_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    gc = commands.add_parser(
        "gc",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="remove chunks no blob uses (safe while others put)",
        description=DESCRIPTION,
        epilog=(
            "examples:\n"
            "  baostore gc --store file:///srv/blobs --dry-run\n"
            "  baostore rm DIGEST && baostore gc --grace 10m"
        ),
    )
    gc.add_argument(
        "--grace",
        metavar="DURATION",
        type=duration_argument,
        default=DEFAULT_GRACE,
        help="keep unused chunks younger than this (90s, 15m, 2h, 1d; default 1h)",
    )
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument("--json", action="store_true", help="print one JSON object")


def run_gc(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    if not isinstance(store, ChunkedStore):
        return fail(
            f"gc collects a store's own objects (memory://, file://, s3://), not {url}", EXIT_USAGE
        )
    report = collect_garbage(store, args.grace, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print("\n".join(report_lines(report, url)))
    return EXIT_OK


def report_lines(report: GcReport, url: str) -> list[str]:
    verb = "would remove" if report.dry_run else "removed"
    lines = [
        f"store:     {url}",
        f"records:   {report.records}",
        f"objects:   {report.objects} chunks and parts ({report.referenced} used by records, "
        f"{report.pending} by running or recent Puts, {report.young} younger than "
        f"{report.grace:g} s)",
        f"{verb}: {len(report.removed)} objects, {format_size(report.removed_bytes)}",
    ]
    leftovers = (report.expired_intents, report.stale_markers, len(report.staging_removed))
    if any(leftovers):
        lines.append(
            f"leftovers: {leftovers[0]} expired intents, {leftovers[1]} stale condemned lists, "
            f"{leftovers[2]} staging files removed"
        )
    if report.incomplete:
        lines.append("incomplete: a slice of deletes ran out of time; run gc again")
    return lines
