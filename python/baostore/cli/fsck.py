"""``baostore fsck``: check a chunked store's chunks and records, optionally repair it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from baostore.cli.failures import EXIT_DAMAGED, EXIT_OK, EXIT_USAGE
from baostore.digests import format_digest
from baostore.store.chunked import ChunkedStore
from baostore.store.fsck import FsckOptions, FsckReport, StoreChecker
from baostore.store.interface import BlobStore

# Damage was found (and removed, with --repair): as e2fsck, a distinct status scripts can test.
EXIT_CORRUPT = EXIT_DAMAGED
# Stores with fewer objects finish before a bar would help.
MIN_OBJECTS_FOR_BAR = 1000

DESCRIPTION = """\
Check a store (memory://, file://, s3://): every record must parse, name chunks that exist with
the sizes it says, and its data must verify against its bao and the blob's digest; every chunk
must hash to its name. Exits 4 if anything is damaged (0 if not).

Chunks no intact record uses are reported as unreferenced, and so are the staging files a
file store leaves when a process dies mid-write. They are left over from puts that never
finished, are harmless, and look exactly like the objects of a put in progress, so they are kept
unless --remove-unreferenced is given too: use that only while nothing writes to the store
(`baostore gc` removes them safely while others write).

--repair removes broken records (first), then corrupt chunks. The blobs they held are gone; put
them again from a good copy.
"""


def add_fsck_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    fsck = commands.add_parser(
        "fsck",
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="check a store's chunks and records; --repair removes damage",
        description=DESCRIPTION,
        epilog=(
            "examples:\n"
            "  baostore fsck --store file:///srv/blobs\n"
            "  baostore fsck --store file:///srv/blobs --repair --json"
        ),
    )
    fsck.add_argument("--repair", action="store_true", help="remove broken records and chunks")
    fsck.add_argument(
        "--remove-unreferenced",
        action="store_true",
        help="with --repair: also remove chunks no record uses (only on a store nobody writes to)",
    )
    fsck.add_argument("--json", action="store_true", help="print one JSON object")


def run_fsck(args: argparse.Namespace, store: BlobStore, url: str) -> int:
    if not isinstance(store, ChunkedStore):
        print(
            f"baostore: error: fsck checks a store's own objects (memory://, file://, s3://), "
            f"not {url}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.remove_unreferenced and not args.repair:
        print("baostore: error: --remove-unreferenced needs --repair", file=sys.stderr)
        return EXIT_USAGE
    options = FsckOptions(repair=args.repair, remove_unreferenced=args.remove_unreferenced)
    with _object_progress(enabled=not args.no_progress and sys.stderr.isatty()) as progress:
        checker = StoreChecker(store, options, progress.advance)
        progress.start(checker.count_objects())
        report = checker.run()
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print("\n".join(report_lines(report, url)))
    return EXIT_CORRUPT if report.corrupt else EXIT_OK


def report_lines(report: FsckReport, url: str) -> list[str]:
    lines = [
        f"store:        {url}",
        f"records:      {report.records_checked} checked, {len(report.broken_records)} broken",
        f"chunks:       {report.chunks_checked} checked ({report.bytes_checked} bytes), "
        f"{len(report.corrupt_chunks)} corrupt",
        f"unreferenced: {len(report.unreferenced_chunks)} chunks, "
        f"{len(report.staging_leftovers)} staging leftovers (harmless)",
    ]
    lines.extend(
        f"broken record {format_digest(problem.digest)}: {problem.reason}"
        for problem in report.broken_records
    )
    lines.extend(
        f"corrupt chunk {format_digest(problem.digest)}: {problem.reason}"
        for problem in report.corrupt_chunks
    )
    lines.extend(f"removed {key}" for key in report.removed)
    if not report.corrupt:
        result = "clean"
    elif report.removed:
        result = "DAMAGED (the damaged objects were removed)"
    else:
        result = "DAMAGED (run again with --repair to remove the damaged objects)"
    lines.append(f"result:       {result}")
    return lines


class _ObjectProgress:
    """A bar counting objects, shown once the total is known and large enough."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        if self._progress is not None and total >= MIN_OBJECTS_FOR_BAR:
            self._progress.start()
            self._task = self._progress.add_task("fsck", total=total)

    def advance(self, count: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)


@contextmanager
def _object_progress(*, enabled: bool) -> Iterator[_ObjectProgress]:
    if not enabled:
        yield _ObjectProgress(None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("objects"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    try:
        yield _ObjectProgress(progress)
    finally:
        progress.stop()
