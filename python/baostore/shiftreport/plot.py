"""A shift report as a PNG, with matplotlib (the optional ``plot`` extra).

Six panels against the shift, one line per bao format: the bao's overhead in percent, the Stat
answer, single-thread outboard and verify speed, the time to the first verified byte, what a
4 KiB range read transfers, and what a lying server gets past its lie. What was measured in
several runs is drawn as the row's figure (fastest speed, else the median) with a bar from the
lowest to the highest run; sizes (bao, Stat answer) are exact. The default shift is marked on
every panel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from baostore.grpc.services import MAX_MESSAGE_SIZE
from baostore.shiftreport.measure import FIRST_BYTE_RUNS, MIN_TIMED_RUNS, Report, ShiftRow
from baostore.sizes import format_size
from baostore.store.interface import DEFAULT_BAO_SHIFT, BaoFormat

INSTALL_HINT = "pip install 'baostore[plot]'"
MARKERS: dict[BaoFormat, str] = {"pre_order": "o", "leaves": "s"}
# A value and the runs it was made from (empty for exact figures).
Measure = Callable[[ShiftRow], tuple[float, tuple[float, ...]]]


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the file-only Agg backend; PlotUnavailableError if missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and no window opens
        import matplotlib.pyplot
    except ImportError:
        raise PlotUnavailableError(f"--plot needs matplotlib: {INSTALL_HINT}") from None
    return matplotlib.pyplot


def write_plot(report: Report, path: Path) -> None:
    """The six panels (see the module docstring) as a PNG at ``path``."""
    figure = draw(report)
    figure.savefig(path, dpi=100)
    pyplot().close(figure)


def draw(report: Report) -> Any:
    """The figure of six panels (see the module docstring)."""
    plt = pyplot()
    figure, axes = plt.subplots(3, 2, figsize=(12, 12), sharex=True)
    overhead, stat, speed, first_byte, range_read, detection = axes.flat
    _lines(overhead, report, lambda row: (row.overhead_pct, ()), "")
    overhead.set(yscale="log", ylabel="bao overhead (% of the blob)")
    overhead.yaxis.set_major_formatter(_formatter(lambda value: f"{value:g} %"))
    _lines(stat, report, lambda row: (row.stat_bytes, ()), "")
    stat.axhline(MAX_MESSAGE_SIZE, color="grey", linestyle=":", label="gRPC message limit")
    stat.set_yscale("log", base=2)
    stat.set(ylabel="Stat answer (on the wire)")
    _lines(speed, report, lambda row: (row.outboard_mb_s, row.outboard_runs_mb_s), "outboard ")
    _lines(
        speed,
        report,
        lambda row: (row.verify_mb_s, row.verify_runs_mb_s),
        "verify ",
        linestyle="--",
    )
    speed.set(ylabel=f"single-thread MB/s (fastest of >= {MIN_TIMED_RUNS} runs)", ylim=(0, None))
    _lines(first_byte, report, lambda row: (row.first_byte_ms, row.first_byte_runs_ms), "")
    first_byte.set(
        ylabel=f"first verified byte over gRPC, ms (median of {FIRST_BYTE_RUNS})", ylim=(0, None)
    )
    _lines(range_read, report, lambda row: (row.range_read_bytes, row.range_read_runs_bytes), "")
    range_read.set(
        ylabel=f"a {format_size(report.range_length)} range read moves (Stat + chunks)",
        ylim=(0, None),
    )
    _lines(detection, report, _past_the_lie, "")
    detection.set_yscale("log", base=2)
    detection.set(ylabel="received past the corrupted byte")
    for axis in (stat, range_read, detection):  # sizes in binary units, as the table writes them
        axis.yaxis.set_major_formatter(_formatter(format_size))
    for axis in axes.flat:
        axis.axvline(
            DEFAULT_BAO_SHIFT,
            color="grey",
            linewidth=4,
            alpha=0.25,
            label=f"default shift ({DEFAULT_BAO_SHIFT})",
        )
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    for axis in axes[-1]:
        axis.set_xlabel("bao shift (chunk groups of 1024 << shift bytes)")
    axes[-1][0].set_xticks(sorted({row.shift for row in report.rows}))
    figure.suptitle(
        f"baostore shift-report: {format_size(report.size)} blob, {report.server}\n"
        f"measured in several runs: the row's figure, bars from the lowest to the highest run; "
        "sizes are exact"
    )
    figure.tight_layout()
    return figure


def _lines(axis: Any, report: Report, measure: Measure, label: str, linestyle: str = "-") -> None:
    """One line per format; values measured in several runs get a bar over their range."""
    for bao_format, marker in MARKERS.items():
        rows = [row for row in report.rows if row.format == bao_format]
        if not rows:
            continue
        shifts = [row.shift for row in rows]
        values, runs = zip(*(measure(row) for row in rows), strict=True)
        line = axis.plot(
            shifts, values, marker=marker, linestyle=linestyle, label=f"{label}{bao_format}"
        )[0]
        if any(runs):
            below = [
                value - min(spread, default=value)
                for value, spread in zip(values, runs, strict=True)
            ]
            above = [
                max(spread, default=value) - value
                for value, spread in zip(values, runs, strict=True)
            ]
            axis.errorbar(
                shifts,
                values,
                yerr=[below, above],
                fmt="none",
                ecolor=line.get_color(),
                capsize=3,
            )


def _past_the_lie(row: ShiftRow) -> tuple[float, tuple[float, ...]]:
    past = tuple(float(received - row.corrupt_offset) for received in row.detection_runs_bytes)
    return row.detection_bytes - row.corrupt_offset, past


def _formatter(text: Callable[[float], str]) -> Any:
    """A tick formatter writing each value with ``text``."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: text(value))
