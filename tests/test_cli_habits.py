"""What a command-line user expects: --version, a summary line after put and get (-q silences it),
several files per put, a stat that says why its shift is not the one asked for, sizes in one kind
of unit everywhere, and every exit status in the top-level help."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from baostore.cli import main
from baostore.cli.bars import transfer_columns
from baostore.cli.failures import EXIT_ERROR, EXIT_OK
from baostore.cli.progress import format_duration
from baostore.cli.transfer import shift_note
from baostore.sizes import MiB, format_rate
from baostore.store.interface import Stat
from baostore.version import __version__
from blake3 import blake3
from rich.console import Console
from rich.progress import Progress

from tests.support.grpc_server import serve_in_thread
from tests.support.stores import small_chunk_memory_store

SUMMARY = re.compile(
    r"^baostore: (?P<what>.+): (?P<size>[\d.]+ (?:B|KiB|MiB|GiB)) in (?P<time>[\d.e-]+ s) "
    r"\((?P<rate>[\d.]+ (?:B|KiB|MiB|GiB|TiB)/s)\), blob (?P<digest>[0-9a-f]{64})(?P<rest>.*)$"
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with serve_in_thread(small_chunk_memory_store()) as url:
        yield url


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"baostore {__version__}\n", "")
    assert __version__ != "unknown"


def test_put_several_files_prints_a_digest_and_a_summary_for_each(
    tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contents = [os.urandom(300_000), b"", b"third"]
    paths = []
    for index, data in enumerate(contents):
        paths.append(tmp_path / f"file{index}")
        paths[-1].write_bytes(data)
    assert main(["put", *map(str, paths), "--store", server_url]) == EXIT_OK
    captured = capsys.readouterr()
    digests = [blake3(data).hexdigest() for data in contents]
    assert captured.out.split() == digests
    summaries = [SUMMARY.match(line) for line in captured.err.splitlines()]
    assert all(summaries), captured.err
    assert [match["what"] for match in summaries if match] == [f"put {path}" for path in paths]
    assert [match["digest"] for match in summaries if match] == digests
    assert [match["size"] for match in summaries if match] == ["293 KiB", "0 B", "5 B"]


def test_put_stops_at_the_first_file_that_fails(
    tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    first.write_bytes(b"first")
    command = ["put", "-q", str(first), str(tmp_path / "missing"), str(first)]
    assert main([*command, "--store", server_url]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out.split() == [blake3(b"first").hexdigest()]
    assert captured.err.splitlines() == [
        f"baostore: error: {tmp_path / 'missing'}: No such file or directory"
    ]


@pytest.mark.parametrize("remote", [True, False], ids=["verified", "local"])
def test_get_ends_with_a_summary_and_quiet_silences_it(
    remote: bool, tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = os.urandom(200_000)
    source = tmp_path / "source"
    source.write_bytes(data)
    store = server_url if remote else (tmp_path / "store").as_uri()
    assert main(["put", "-q", str(source), "--store", store]) == EXIT_OK
    digest = capsys.readouterr().out.strip()
    target = tmp_path / "copy"
    get = ["get", digest, "-o", str(target), "--store", store, "--no-cache"]
    assert main(get) == EXIT_OK
    (line,) = capsys.readouterr().err.splitlines()
    match = SUMMARY.match(line)
    assert match is not None, line
    assert (match["what"], match["size"], match["digest"]) == (f"got {target}", "195 KiB", digest)
    assert match["rest"] == (", verified" if remote else "")
    assert main([*get, "-q", "--range", "1KiB:2KiB"]) == EXIT_OK
    assert capsys.readouterr().err == ""
    assert target.read_bytes() == data[1024:2048]


def test_quiet_put_prints_only_the_digest(
    tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"quiet")
    assert main(["put", "-q", str(source), "--store", server_url]) == EXIT_OK
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (blake3(b"quiet").hexdigest() + "\n", "")


def test_stat_says_why_the_shift_is_not_the_one_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = os.urandom(2 * MiB)
    # A server whose answers must stay below 8 KiB coarsens a shift-0 bao (128 KiB).
    with serve_in_thread(small_chunk_memory_store(), stat_limit=8 << 10) as url:
        source = tmp_path / "source"
        source.write_bytes(data)
        assert main(["put", "-q", str(source), "--store", url]) == EXIT_OK
        digest = capsys.readouterr().out.strip()
        assert main(["stat", digest, "--shift", "0", "--store", url]) == EXIT_OK
        lines = capsys.readouterr().out.splitlines()
        assert re.fullmatch(r"note: asked for shift 0, answered at shift \d+: .+", lines[-1])
        assert main(["stat", digest, "--shift", "8", "--store", url]) == EXIT_OK
        assert not capsys.readouterr().out.splitlines()[-1].startswith("note:")


def test_the_shift_note_names_each_reason() -> None:
    big = Stat(size=300 * MiB, bao_shift=4)
    note = shift_note(0, big)
    assert note is not None
    assert "only for blobs up to 256 MiB" in note
    assert "the bao at shift 0 (18.7 MiB) and the chunk list would not fit one 4 MiB" in note
    assert shift_note(4, big) is None
    small = shift_note(0, Stat(size=MiB, bao_shift=2))
    assert small == "note: asked for shift 0, answered at shift 2: the store chose a coarser one"


def test_sizes_in_bars_and_summaries_are_binary() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=160)
    with Progress(*transfer_columns(), console=console) as progress:
        task = progress.add_task("get", total=64 * MiB)
        progress.advance(task, 16 * MiB)
        progress.refresh()
    assert "16 MiB / 64 MiB" in output.getvalue()
    assert format_rate(3 * MiB, 2.0) == "1.5 MiB/s"
    assert [format_duration(s) for s in (0.0213, 12.34, 245, 7380)] == [
        "0.0213 s",
        "12.3 s",
        "4 min 05 s",
        "2 h 03 min",
    ]


def test_the_top_level_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    for line in (
        "0  success",
        "2  usage error",
        "3  blob not found",
        "4  damage found: verify found the file partial",
        "fsck found damage",
        "130  interrupted",
    ):
        assert line in help_text
