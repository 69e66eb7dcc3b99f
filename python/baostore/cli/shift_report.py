"""``baostore shift-report``: what each bao shift costs and buys, measured here, shown as a table.

The measuring is baostore.shiftreport.measure; this module parses the options, shows progress,
and prints the rows (rich table or JSON) and the optional plot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from baostore import bao
from baostore.cli.arguments import argument
from baostore.cli.failures import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    os_error_message,
)
from baostore.digests import format_digest
from baostore.shiftreport.measure import (
    MeasuredStore,
    Report,
    ShiftRow,
    StepCallback,
    measure_report,
    open_measured_store,
)
from baostore.sizes import MiB, format_size, parse_size
from baostore.store.interface import (
    BAO_FORMATS,
    BaoFormat,
    StoreError,
    check_format,
    parse_shift,
)

DEFAULT_SIZE = 64 * MiB
DEFAULT_SHIFTS = range(0, 11)

DESCRIPTION = """\
Measure, on your data and your machine, what each bao shift costs and buys. A chunk group is
1024 << SHIFT bytes: a finer shift means a bigger bao but less data to take on trust per check.

The blob (PATH, or --size bytes of random data, default 64MiB) is put into a store and served
by a gRPC server on a loopback port in this process (a memory store unless --store names one;
a grpc+http:// or grpc+unix:// --store is measured directly, over the network). Every row is
one shift and one bao format (pre_order: (groups - 1) x 64 bytes; leaves: groups x 32 bytes).

columns (the --json keys):
  shift             chunk groups of 1024 << shift bytes
  format            bao layout: pre_order or leaves
  bao_bytes         size of the bao at this shift (0 for a blob of one group)
  overhead_pct      bao_bytes as a percentage of the blob size
  stat_bytes        size of the Stat answer a verified reader gets (size, chunk list, bao;
                    the data itself for a blob of at most 16 KiB), measured on the wire; if the
                    answer at this shift would not fit one 4 MiB gRPC message the server
                    coarsens the bao, and this is the coarser answer
  fits_message      whether the server could answer at this shift in under 4 MiB (the table
                    shows the shift it used instead when it could not)
  outboard_mb_s     single-thread bao computation speed here, in 10^6 bytes per second
                    (the fastest run)
  verify_mb_s       single-thread Verifier speed, fed 1 MiB pieces, in 10^6 bytes per second
                    (the fastest run)
  first_byte_ms     milliseconds from opening the blob over gRPC to the first verified byte
                    (Stat, bao check, first chunk, first group), median of three
  range_read_bytes  bytes a verified read of 4 KiB at a fixed pseudo-random offset transfers:
                    the Stat answer plus every chunk that covers the range's groups (median of
                    three)
  detection_bytes   data bytes a lying server that inverts the blob's middle byte (offset
                    corrupt_offset) makes the client receive before it raises the verification
                    error; that server lists no chunks and sends 1 KiB messages from the bad
                    byte on, so the figure is the end of the chunk group holding the bad byte,
                    or a little more when the client's read-ahead took in more messages before
                    it checked that group (median of three)
  outboard_runs_mb_s, verify_runs_mb_s, first_byte_runs_ms, range_read_runs_bytes,
  detection_runs_bytes
                    every run of those five (at least three each): their spread
  range_offset      where the 4 KiB range read starts
  corrupt_offset    where the lying server's inverted byte is (detection_bytes minus this is
                    what got past it)

Timings are of this machine now: compare rows with each other, not with other machines. Sizes
(bao, Stat answer) are exact; what is timed or counted over the wire varies from run to run, so
each keeps its runs and --plot draws their spread.
"""

EPILOG = """\
examples:
  baostore shift-report                          # 64 MiB of random data, shifts 0-10
  baostore shift-report big.iso --shifts 2-8 --plot shifts.png
  baostore shift-report --size 1GiB --formats leaves --json
  baostore shift-report --size 8MiB --store grpc+http://127.0.0.1:50051

--plot needs matplotlib: pip install 'baostore[plot]'
"""


def _blob_size(text: str) -> int:
    size = parse_size(text)
    if size <= 0:
        raise ValueError(f"size must be at least 1 byte, got {text!r}")
    return size


def parse_shifts(text: str) -> range:
    """``A-B`` (inclusive) or a single ``N``; ValueError if outside 0..MAX_SHIFT or reversed."""
    first, sep, last = text.partition("-")
    low = parse_shift(first, "--shifts")
    high = parse_shift(last, "--shifts") if sep else low
    if low > high:
        raise ValueError(f"--shifts {text!r}: the first shift is above the last")
    return range(low, high + 1)


def parse_formats(text: str) -> tuple[BaoFormat, ...]:
    """A comma-separated list of bao formats, each once, in the order given."""
    chosen: list[BaoFormat] = []
    for name in (part.strip() for part in text.split(",")):
        known = check_format(name, "--formats")
        if known not in chosen:
            chosen.append(known)
    return tuple(chosen)


def add_shift_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``shift-report`` subcommand to ``baostore``'s subcommands."""
    parser = commands.add_parser(
        "shift-report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="measure bao overhead, speed, latency and detection for each shift",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    data = parser.add_mutually_exclusive_group()
    data.add_argument("path", metavar="PATH", nargs="?", help="measure this file's contents")
    data.add_argument(
        "--size",
        metavar="N",
        type=argument(_blob_size),
        help="measure N bytes of random data: 8MiB, 1GiB, 500KB (powers of 1000), 4096 "
        "(default 64MiB)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="put the blob into this store (memory://, file://, s3:// are served on loopback; "
        "grpc+http:// and grpc+unix:// servers are measured directly); default: a memory store",
    )
    parser.add_argument(
        "--shifts",
        metavar="A-B",
        type=argument(parse_shifts),
        default=DEFAULT_SHIFTS,
        help=f"the shifts to measure, inclusive, or one shift N (default 0-10; at most "
        f"{bao.MAX_SHIFT})",
    )
    parser.add_argument(
        "--formats",
        metavar="F[,F]",
        type=argument(parse_formats),
        default=BAO_FORMATS,
        help="bao formats to measure (default pre_order,leaves)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        type=Path,
        help="also draw every column against the shift, timings with the spread of their runs "
        "(needs matplotlib)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--no-progress", action="store_true", help="never show progress")


def run_shift_report(args: argparse.Namespace) -> int:
    """Run ``baostore shift-report``; return the exit status."""
    try:
        if args.plot is not None:
            _check_plot_target(args.plot)
        data = _blob_data(args.path, args.size)
        target = open_measured_store(args.store, min(args.shifts))
    except _UsageError as error:
        return fail(str(error), EXIT_USAGE)
    except ValueError as error:
        return fail(f"bad store URL: {error}", EXIT_USAGE)
    except OSError as error:
        return fail(os_error_message(error), EXIT_ERROR)
    except StoreError as error:
        return fail(str(error), EXIT_ERROR)
    try:
        report = _measure(data, args, target)
        if args.plot is not None:
            from baostore.shiftreport.plot import write_plot

            write_plot(report, args.plot)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except (StoreError, ValueError, OSError) as error:
        return fail(str(error), EXIT_ERROR)
    finally:
        target.store.close()
    if args.json:
        print(json.dumps([row.to_json() for row in report.rows], indent=2))
    else:
        _print_table(report)
    return EXIT_OK


class _UsageError(Exception):
    """An option that cannot work, found before anything is measured."""


def _check_plot_target(path: Path) -> None:
    """Fail now, not after minutes of measuring, if the plot cannot be written."""
    from baostore.shiftreport.plot import PlotUnavailableError, pyplot

    try:
        pyplot()
    except PlotUnavailableError as error:
        raise _UsageError(str(error)) from None
    if not path.parent.is_dir():
        raise _UsageError(f"cannot write {path}: directory {path.parent} does not exist")


def _blob_data(path: str | None, size: int | None) -> bytes:
    if path is None:
        return os.urandom(DEFAULT_SIZE if size is None else size)
    data = Path(path).read_bytes()
    if not data:
        raise _UsageError(f"{path} is empty: an empty blob has no bao to measure")
    return data


def _measure(data: bytes, args: argparse.Namespace, target: MeasuredStore) -> Report:
    enabled = not args.no_progress and sys.stderr.isatty()
    with _progress(enabled) as on_step:
        return measure_report(
            data, shifts=args.shifts, formats=args.formats, target=target, on_step=on_step
        )


@contextmanager
def _progress(enabled: bool) -> Iterator[StepCallback]:
    """A step callback that drives a rich progress bar on stderr (or does nothing)."""
    if not enabled:
        yield lambda done, total, what: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]shift-report[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def on_step(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        yield on_step


def _print_table(report: Report) -> None:
    # Off a terminal (a pipe, a file) rich would squeeze the table into 80 columns.
    console = Console(width=None if sys.stdout.isatty() else TABLE_WIDTH)
    console.print(
        f"blob {format_digest(report.digest)}\n"
        f"{format_size(report.size)} ({report.size} bytes) on {report.server}"
    )
    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        caption_justify="left",
        collapse_padding=True,
        pad_edge=False,
    )
    for title in TABLE_COLUMNS:
        # On a narrow terminal cells fold onto a second line rather than lose digits.
        table.add_column(title, justify="left" if title == "format" else "right", overflow="fold")
    for row in report.rows:
        table.add_row(*_cells(row, report))
    notes = [
        f"4 KiB read: {report.range_length} bytes at offset {report.range_offset}, "
        "Stat answer included.",
        f"detected after: bytes received past the corrupted byte (offset "
        f"{report.corrupt_offset}) when the client stopped.",
    ]
    if not all(row.fits_message for row in report.rows):
        notes.append("*: over 4 MiB at this shift; the server answered at the shift shown.")
    table.caption = "\n".join(notes)
    console.print(table)


TABLE_WIDTH = 120
TABLE_COLUMNS = (
    "shift",
    "group",
    "format",
    "bao",
    "overhead\n%",
    "Stat\nanswer",
    "outboard\nMB/s",
    "verify\nMB/s",
    "first\nbyte ms",
    "4 KiB\nread",
    "detected\nafter",
)


def _cells(row: ShiftRow, report: Report) -> tuple[str, ...]:
    stat = format_size(row.stat_bytes)
    if not row.fits_message:
        stat = f"*{row.served_shift}: {stat}"
    return (
        str(row.shift),
        format_size(bao.group_size(row.shift)),
        row.format,
        format_size(row.bao_bytes),
        f"{row.overhead_pct:.3g}",
        stat,
        f"{row.outboard_mb_s:,.0f}",
        f"{row.verify_mb_s:,.0f}",
        f"{row.first_byte_ms:.1f}",
        format_size(row.range_read_bytes),
        f"+{format_size(row.detection_bytes - report.corrupt_offset)}",
    )
