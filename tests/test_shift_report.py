"""baostore shift-report: its columns against the tree formulas, on a small blob, end to end."""

from __future__ import annotations

import contextlib
import io
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
from baostore import bao
from baostore.cli.main import main
from baostore.cli.shift_report import parse_formats, parse_shifts
from baostore.shiftreport.measure import (
    FIRST_BYTE_RUNS,
    MIN_TIMED_RUNS,
    ROW_KEYS,
    WIRE_RUNS,
    MeasuredStore,
    corrupt_offset,
    measure_report,
    range_read_span,
)
from baostore.sizes import format_size, parse_size
from baostore.store.chunked import ChunkedStore, ChunkSizes
from baostore.store.interface import BAO_FORMATS, DEFAULT_BAO_SHIFT, BaoFormat, ChunkMeta
from baostore.store.objects import memory_backend

# 300 KiB and a bit: the last group is partial at every shift.
SIZE = 300 * 1024 + 123
SHIFTS = range(0, 7)
MESSAGE_LIMIT = 4 << 20
# Small chunks, so a 4 KiB range read has several chunks to choose from.
SMALL_CHUNKS = ChunkSizes(min=8 << 10, avg=16 << 10, max=32 << 10)


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def expected_bao_bytes(size: int, shift: int, bao_format: BaoFormat) -> int:
    groups = max(1, -(-size // bao.group_size(shift)))
    if groups == 1:
        return 0
    return (groups - 1) * 64 if bao_format == "pre_order" else groups * 32


def group_end(offset: int, size: int, shift: int) -> int:
    """End of the chunk group holding ``offset``."""
    group = bao.group_size(shift)
    return min(size, (offset // group + 1) * group)


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def json_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("shift-report") / "blob.bin"
    path.write_bytes(blob(SIZE, seed=6))
    status, out = run_cli(["shift-report", str(path), "--shifts", "0-6", "--json", "--no-progress"])
    assert status == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def test_json_rows_have_exactly_the_documented_keys(json_rows: list[dict[str, Any]]) -> None:
    assert {(row["shift"], row["format"]) for row in json_rows} == {
        (shift, bao_format) for shift in SHIFTS for bao_format in BAO_FORMATS
    }
    for row in json_rows:
        assert set(row) == set(ROW_KEYS)


def test_bao_size_and_overhead_follow_the_tree(json_rows: list[dict[str, Any]]) -> None:
    for row in json_rows:
        expected = expected_bao_bytes(SIZE, row["shift"], row["format"])
        assert row["bao_bytes"] == expected, row
        assert row["overhead_pct"] == pytest.approx(100 * expected / SIZE)


def test_stat_answer_holds_the_bao_and_fits(json_rows: list[dict[str, Any]]) -> None:
    for row in json_rows:
        assert row["stat_bytes"] >= row["bao_bytes"]
        assert row["fits_message"] == (row["stat_bytes"] < MESSAGE_LIMIT)


def test_detection_stops_at_the_end_of_the_bad_group(json_rows: list[dict[str, Any]]) -> None:
    bad = corrupt_offset(SIZE)
    for row in json_rows:
        assert bad < row["detection_bytes"] <= SIZE
        # The lying server sends 1 KiB messages from the bad byte on: the client must stop at
        # the end of the group that fails, not a message later.
        assert row["detection_bytes"] == group_end(bad, SIZE, row["shift"]), row


def test_timings_are_positive(json_rows: list[dict[str, Any]]) -> None:
    for row in json_rows:
        assert row["outboard_mb_s"] > 0
        assert row["verify_mb_s"] > 0
        assert row["first_byte_ms"] > 0


def test_every_measured_figure_keeps_its_runs(json_rows: list[dict[str, Any]]) -> None:
    for row in json_rows:
        assert len(row["outboard_runs_mb_s"]) >= MIN_TIMED_RUNS
        assert len(row["verify_runs_mb_s"]) >= MIN_TIMED_RUNS
        assert len(row["first_byte_runs_ms"]) == FIRST_BYTE_RUNS
        assert len(row["range_read_runs_bytes"]) == len(row["detection_runs_bytes"]) == WIRE_RUNS
        # The row's figure is the fastest run for speeds, the median otherwise.
        assert row["outboard_mb_s"] == max(row["outboard_runs_mb_s"])
        assert row["verify_mb_s"] == max(row["verify_runs_mb_s"])
        assert row["first_byte_ms"] == pytest.approx(statistics.median(row["first_byte_runs_ms"]))
        assert row["range_read_bytes"] == statistics.median_low(row["range_read_runs_bytes"])
        assert row["detection_bytes"] == statistics.median_low(row["detection_runs_bytes"])


def test_a_row_says_where_the_lie_and_the_range_read_were(
    json_rows: list[dict[str, Any]],
) -> None:
    offset, _ = range_read_span(SIZE)
    for row in json_rows:
        assert row["corrupt_offset"] == corrupt_offset(SIZE) == SIZE // 2
        assert row["range_offset"] == offset
        # So what got past the lie reads from the row alone.
        assert 0 < row["detection_bytes"] - row["corrupt_offset"] <= SIZE - SIZE // 2


def covering_chunk_bytes(chunks: tuple[ChunkMeta, ...], start: int, end: int) -> int:
    """Total size of the chunks that overlap ``[start, end)``."""
    total = offset = 0
    for chunk in chunks:
        if offset < end and start < offset + chunk.size:
            total += chunk.size
        offset += chunk.size
    return total


def test_range_read_fetches_only_chunks_covering_its_groups() -> None:
    data = blob(SIZE, seed=7)
    store = ChunkedStore(memory_backend(), chunk_sizes=SMALL_CHUNKS)
    target = MeasuredStore(store, None, "a small-chunk memory store")
    formats: tuple[BaoFormat, ...] = ("leaves",)
    report = measure_report(data, shifts=range(0, 7, 3), formats=formats, target=target)
    stat = store.stat(report.digest, send_bao=False)
    assert stat is not None and len(stat.chunks) > 4
    offset, length = range_read_span(SIZE)
    assert (report.range_offset, report.range_length) == (offset, length) == (offset, 4096)
    for row in report.rows:
        group = bao.group_size(row.served_shift)
        start, end = offset - offset % group, group_end(offset + length - 1, SIZE, row.served_shift)
        fetched = row.range_read_bytes - row.stat_bytes
        assert fetched <= covering_chunk_bytes(stat.chunks, start, end)
        assert fetched >= covering_chunk_bytes(stat.chunks, offset, offset + length)


def test_table_output_names_every_row() -> None:
    status, out = run_cli(
        ["shift-report", "--size", "20KiB", "--shifts", "3-4", "--formats", "leaves"]
    )
    assert status == 0
    assert "16 KiB" in out and "leaves" in out and "pre_order" not in out


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("8MiB", 8 << 20),
        ("1GiB", 1 << 30),
        ("500KB", 500_000),
        ("1.5KiB", 1536),
        ("2 mib", 2 << 20),
        ("3K", 3072),
        ("7B", 7),
    ],
)
def test_sizes_parse_with_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "-1", "1.5B", "8XB", "1e6", "0x10"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize("argv", [["--size", "0"], ["--size", "lots"], ["--shifts", "6-2"]])
def test_bad_options_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["shift-report", *argv])
    assert exit_info.value.code == 2


def test_shift_and_format_lists() -> None:
    assert parse_shifts("0-10") == range(0, 11)
    assert parse_shifts("4") == range(4, 5)
    with pytest.raises(ValueError):
        parse_shifts(f"0-{bao.MAX_SHIFT + 1}")
    assert parse_formats("leaves,pre_order,leaves") == ("leaves", "pre_order")
    with pytest.raises(ValueError, match="--formats must be one of"):
        parse_formats("post_order")


def test_format_size_is_short() -> None:
    assert [format_size(n) for n in (384, 1536, 64 << 20, 2047 << 20)] == [
        "384 B",
        "1.5 KiB",
        "64 MiB",
        "2 GiB",
    ]


def test_plot_without_matplotlib_fails_before_measuring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    target = tmp_path / "shifts.png"
    status = main(["shift-report", "--size", "4KiB", "--plot", str(target), "--no-progress"])
    assert status == 2
    assert "pip install 'baostore[plot]'" in capsys.readouterr().err
    assert not target.exists()


def test_the_plot_draws_every_figure_with_its_spread_and_marks_the_default() -> None:
    pytest.importorskip("matplotlib")
    from baostore.shiftreport.plot import draw, pyplot

    data = blob(SIZE, seed=8)
    target = MeasuredStore(ChunkedStore(memory_backend()), None, "a memory store")
    report = measure_report(data, shifts=range(2, 7), formats=BAO_FORMATS, target=target)
    figure = draw(report)
    try:
        axes = figure.axes
        labels = [axis.get_ylabel() for axis in axes]
        for word in ("overhead", "Stat answer", "MB/s", "first verified byte", "range read"):
            assert any(word in label for label in labels), (word, labels)
        assert any("past the corrupted byte" in label for label in labels)
        for axis in axes:
            lines = {line.get_label(): line for line in axis.get_lines()}
            default = lines[f"default shift ({DEFAULT_BAO_SHIFT})"]
            assert list(default.get_xdata()) == [DEFAULT_BAO_SHIFT] * 2
        # Measured in several runs: error bars (LineCollections) on speed and first byte.
        for label in ("MB/s", "first verified byte"):
            axis = next(axis for axis in axes if label in axis.get_ylabel())
            assert axis.collections, label
        overhead = next(axis for axis in axes if "overhead" in axis.get_ylabel())
        assert overhead.yaxis.get_major_formatter()(1.5, 0) == "1.5 %"
    finally:
        pyplot().close(figure)


def test_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "shifts.png"
    status, _ = run_cli(
        ["shift-report", "--size", "40KiB", "--shifts", "0-3", "--plot", str(target), "--json"]
    )
    assert status == 0
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
