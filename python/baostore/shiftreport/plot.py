"""The key curves of a shift report as a PNG, with matplotlib (the optional ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from baostore.shiftreport.measure import Report, ShiftRow
from baostore.sizes import format_size
from baostore.store.interface import BaoFormat

INSTALL_HINT = "pip install 'baostore[plot]'"
MARKERS: dict[BaoFormat, str] = {"pre_order": "o", "leaves": "s"}


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
    """Four panels against the shift: overhead, throughput, first byte, detection."""
    plt = pyplot()
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    overhead, speed, first_byte, detection = axes.flat
    _lines(overhead, report, lambda row: row.overhead_pct, "")
    overhead.set(yscale="log", ylabel="bao overhead (% of the blob)")
    _lines(speed, report, lambda row: row.outboard_mb_s, "outboard ", linestyle="-")
    _lines(speed, report, lambda row: row.verify_mb_s, "verify ", linestyle="--")
    speed.set(ylabel="single-thread MB/s", ylim=(0, None))
    _lines(first_byte, report, lambda row: row.first_byte_ms, "")
    first_byte.set(ylabel="first verified byte over gRPC (ms)", ylim=(0, None))
    _lines(detection, report, lambda row: row.detection_bytes - report.corrupt_offset, "")
    detection.set(
        yscale="log",
        ylabel="bytes received past the corrupted byte",
    )
    for axis in axes.flat:
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    for axis in axes[1]:
        axis.set_xlabel("bao shift (chunk groups of 1024 << shift bytes)")
    shifts = sorted({row.shift for row in report.rows})
    axes[1][0].set_xticks(shifts)
    figure.suptitle(f"baostore shift-report: {format_size(report.size)} blob, {report.server}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _lines(
    axis: Any,
    report: Report,
    value: Callable[[ShiftRow], float],
    label: str,
    linestyle: str = "-",
) -> None:
    for bao_format in MARKERS:
        rows = [row for row in report.rows if row.format == bao_format]
        if rows:
            axis.plot(
                [row.shift for row in rows],
                [value(row) for row in rows],
                marker=MARKERS[bao_format],
                linestyle=linestyle,
                label=f"{label}{bao_format}",
            )
