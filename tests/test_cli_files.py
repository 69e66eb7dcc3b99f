"""``baostore hash``, ``outboard`` and ``verify``: b3sum's lines, outboard files in every format
(the bao CLI's included), and verify's report and exit statuses for every shape of file."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli import main
from baostore.cli.failures import (
    EXIT_DAMAGED,
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
)
from baostore.cli.files import b3sum_line
from blake3 import blake3

DATA = random.Random(13).randbytes(700_001)
DIGEST = blake3(DATA).hexdigest()


def baostore(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "baostore.cli", *args], input=stdin, capture_output=True, timeout=60
    )


@pytest.fixture
def blob_file(tmp_path: Path) -> Path:
    path = tmp_path / "blob.bin"
    path.write_bytes(DATA)
    return path


def damaged_copy(tmp_path: Path, *offsets: int, data: bytes = DATA) -> Path:
    damaged = bytearray(data)
    for offset in offsets:
        damaged[offset] ^= 0xFF
    path = tmp_path / "damaged.bin"
    path.write_bytes(damaged)
    return path


# -- hash ---------------------------------------------------------------------------------


def test_hash_prints_b3sum_lines(blob_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = baostore("hash", str(blob_file), str(empty), "-", stdin=b"abc")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.decode().splitlines() == [
        f"{DIGEST}  {blob_file}",
        f"{blake3(b'').hexdigest()}  {empty}",
        f"{blake3(b'abc').hexdigest()}  -",
    ]


def test_hash_without_files_reads_stdin() -> None:
    result = baostore("hash", stdin=DATA)
    assert result.stdout.decode() == f"{DIGEST}  -\n"


def test_hash_escapes_names_as_b3sum_does(tmp_path: Path) -> None:
    digest = blake3(b"").digest()
    assert b3sum_line(digest, "a\nb") == f"\\{digest.hex()}  a\\nb"
    assert b3sum_line(digest, "back\\slash") == f"\\{digest.hex()}  back\\\\slash"
    assert b3sum_line(digest, "plain name") == f"{digest.hex()}  plain name"
    undecodable = os.fsdecode(b"y\xffy")
    assert b3sum_line(digest, undecodable) == f"{digest.hex()}  y\ufffdy"
    odd = tmp_path / "x\ny"
    odd.write_bytes(b"")
    result = baostore("hash", str(odd))
    escaped = str(odd).replace("\n", "\\n")
    assert result.stdout.decode() == f"\\{digest.hex()}  {escaped}\n"


def test_hash_goes_on_after_a_bad_file(blob_file: Path, tmp_path: Path) -> None:
    result = baostore("hash", str(tmp_path / "missing"), str(tmp_path), str(blob_file))
    assert result.returncode == EXIT_ERROR
    assert result.stdout.decode() == f"{DIGEST}  {blob_file}\n"
    errors = result.stderr.decode().splitlines()
    assert len(errors) == 2
    assert "missing" in errors[0] and "No such file" in errors[0]


# -- outboard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], bao.outboard(DATA, 4)[1]),
        (["--shift", "2"], bao.outboard(DATA, 2)[1]),
        (["--format", "leaves"], bao.outboard(DATA, 4, "leaves")[1]),
        (["--format", "bao"], len(DATA).to_bytes(8, "little") + bao.outboard(DATA, 0)[1]),
        (
            ["--format", "bao", "--shift", "0"],
            len(DATA).to_bytes(8, "little") + bao.outboard(DATA, 0)[1],
        ),
    ],
)
def test_outboard_writes_the_file_and_prints_the_digest(
    blob_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    expected: bytes,
) -> None:
    out = tmp_path / "out.ob"
    assert main(["outboard", str(blob_file), "-o", str(out), *options]) == EXIT_OK
    assert capsys.readouterr().out == f"{DIGEST}\n"
    assert out.read_bytes() == expected


def test_outboard_to_stdout_prints_the_digest_on_stderr(blob_file: Path) -> None:
    result = baostore("outboard", str(blob_file), "-o", "-", "--format", "bao")
    assert result.returncode == EXIT_OK
    assert result.stdout == len(DATA).to_bytes(8, "little") + bao.outboard(DATA, 0)[1]
    assert result.stderr.decode() == f"{DIGEST}\n"


def test_outboard_of_stdin(tmp_path: Path) -> None:
    out = tmp_path / "ob"
    result = baostore("outboard", "-", "-o", str(out), stdin=DATA)
    assert result.stdout.decode() == f"{DIGEST}\n"
    assert out.read_bytes() == bao.outboard(DATA, 4)[1]


def test_outboard_refuses_the_bao_format_at_another_shift(blob_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ob"
    assert (
        main(["outboard", str(blob_file), "-o", str(out), "--format", "bao", "--shift", "4"])
        == EXIT_USAGE
    )
    assert not out.exists()


def test_outboard_of_a_directory_fails_cleanly(tmp_path: Path) -> None:
    assert main(["outboard", str(tmp_path), "-o", str(tmp_path / "ob")]) == EXIT_ERROR


# -- verify with an outboard --------------------------------------------------------------


@pytest.fixture
def outboards(blob_file: Path, tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for format, shift in (("pre_order", "4"), ("leaves", "2"), ("bao", "0")):
        path = tmp_path / f"blob.{format}"
        assert (
            main(
                ["outboard", str(blob_file), "-o", str(path), "--format", format, "--shift", shift]
            )
            == EXIT_OK
        )
        paths[format] = path
    return paths


def verify_options(outboards: dict[str, Path], format: str) -> list[str]:
    shift = {"pre_order": "4", "leaves": "2", "bao": "0"}[format]
    return ["--outboard", str(outboards[format]), "--format", format, "--shift", shift]


@pytest.mark.parametrize("format", ["pre_order", "leaves", "bao"])
def test_verify_a_complete_file(
    blob_file: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str], format: str
) -> None:
    capsys.readouterr()
    assert main(["verify", str(blob_file), DIGEST, *verify_options(outboards, format)]) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"{blob_file}: complete: blob {DIGEST}")


@pytest.mark.parametrize("format", ["pre_order", "leaves", "bao"])
def test_verify_reports_damaged_ranges_as_partial(
    tmp_path: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str], format: str
) -> None:
    damaged = damaged_copy(tmp_path, 0, 350_000, len(DATA) - 1)
    capsys.readouterr()
    status = main(["verify", str(damaged), DIGEST, *verify_options(outboards, format), "--json"])
    assert status == EXIT_DAMAGED
    report = json.loads(capsys.readouterr().out)
    group = bao.group_size({"pre_order": 4, "leaves": 2, "bao": 0}[format])
    assert report["complete"] is False
    assert report["damaged"] == [
        [0, group],
        [350_000 // group * group, 350_000 // group * group + group],
        [(len(DATA) - 1) // group * group, len(DATA)],
    ]
    assert report["missing"] == [] and report["extra"] == 0
    verified = sum(end - start for start, end in report["verified"])
    assert verified == len(DATA) - sum(end - start for start, end in report["damaged"])


def test_verify_a_shorter_and_a_longer_file(
    tmp_path: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short"
    short.write_bytes(DATA[:100_000])
    capsys.readouterr()
    assert main(["verify", str(short), DIGEST, *verify_options(outboards, "bao")]) == EXIT_DAMAGED
    out = capsys.readouterr().out
    assert "the file is shorter than the blob: 100000 of 700001 bytes" in out
    assert "missing   100000:700001" in out
    long = tmp_path / "long"
    long.write_bytes(DATA + b"more")
    assert main(["verify", str(long), DIGEST, *verify_options(outboards, "bao")]) == EXIT_DAMAGED
    assert "longer than the blob: 4 bytes past its end" in capsys.readouterr().out


def test_verify_a_short_file_with_a_sizeless_outboard_needs_the_size(
    tmp_path: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short"
    short.write_bytes(DATA[:100_000])
    options = verify_options(outboards, "pre_order")
    assert main(["verify", str(short), DIGEST, *options]) == EXIT_ERROR
    assert "--size" in capsys.readouterr().err
    assert main(["verify", str(short), DIGEST, *options, "--size", str(len(DATA))]) == EXIT_DAMAGED


def test_verify_a_range_file(
    tmp_path: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    part = tmp_path / "part"
    part.write_bytes(DATA[16384:400_000])
    options = [*verify_options(outboards, "pre_order"), "--range", "16384:400000", "--json"]
    assert main(["verify", str(part), DIGEST, *options]) == EXIT_USAGE  # no size in pre_order
    assert "--size" in capsys.readouterr().err
    options += ["--size", str(len(DATA))]
    assert main(["verify", str(part), DIGEST, *options]) == EXIT_DAMAGED  # a cut group at the end
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] == [[16384, 400_000 // 16384 * 16384]]
    part.write_bytes(DATA[16384:])
    options[options.index("16384:400000")] = "16384:"
    assert main(["verify", str(part), DIGEST, *options]) == EXIT_OK


@pytest.mark.parametrize(
    ("why", "arguments"),
    [
        ("another digest", ["00" * 32, "--format", "bao"]),
        ("read as another format", [DIGEST, "--format", "pre_order"]),
        ("another shift", [DIGEST, "--format", "pre_order", "--shift", "0", "--size", "700001"]),
    ],
)
def test_verify_with_a_wrong_outboard_is_an_error(
    blob_file: Path,
    outboards: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    why: str,
    arguments: list[str],
) -> None:
    del why
    assert (
        main(
            [
                "verify",
                str(blob_file),
                arguments[0],
                "--outboard",
                str(outboards["bao"]),
                *arguments[1:],
            ]
        )
        == EXIT_ERROR
    )
    assert "outboard" in capsys.readouterr().err


def test_verify_a_directory_or_a_device_is_an_error(
    tmp_path: Path, outboards: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {str(tmp_path): "is a directory", "/dev/zero": "not a regular file or a block"}
    for path, why in expected.items():
        assert main(["verify", path, DIGEST, *verify_options(outboards, "bao")]) == EXIT_ERROR
        assert why in capsys.readouterr().err


def test_verify_usage_errors(blob_file: Path, outboards: dict[str, Path]) -> None:
    both = ["--outboard", str(outboards["bao"]), "--store", "memory://"]
    assert main(["verify", str(blob_file), DIGEST, *both]) == EXIT_USAGE
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(blob_file), "nothex", "--outboard", str(outboards["bao"])])
    assert exit_info.value.code == EXIT_USAGE


# -- verify against a store ---------------------------------------------------------------


def test_verify_against_a_store(
    tmp_path: Path, blob_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = (tmp_path / "store").as_uri()
    assert main(["put", str(blob_file), "--store", store]) == EXIT_OK
    capsys.readouterr()
    assert main(["verify", str(blob_file), DIGEST, "--store", store]) == EXIT_OK
    damaged = damaged_copy(tmp_path, 123_456)
    assert (
        main(["verify", str(damaged), DIGEST, "--store", store, "--shift", "0", "--json"])
        == EXIT_DAMAGED
    )
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["damaged"] == [[123_456 // 1024 * 1024, 123_456 // 1024 * 1024 + 1024]]
    assert main(["verify", str(blob_file), "07" * 32, "--store", store]) == EXIT_NOT_FOUND


# -- a file written while it is verified ---------------------------------------------------

WRITER = """
import os, sys
path = sys.argv[1]
size = os.path.getsize(path)
fd = os.open(path, os.O_WRONLY)
os.pwrite(fd, os.urandom(65536), 0)
print("ready", flush=True)
while True:  # a busy writer: junk at random places, over and over
    os.pwrite(fd, os.urandom(65536), int.from_bytes(os.urandom(4), "little") % (size - 65536))
"""


def test_verify_of_a_file_being_written_never_says_complete(tmp_path: Path) -> None:
    big = random.Random(2).randbytes(32 << 20)
    path = tmp_path / "busy"
    path.write_bytes(big)
    outboard = tmp_path / "busy.ob"
    assert main(["outboard", str(path), "-o", str(outboard)]) == EXIT_OK
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        digest = blake3(big).hexdigest()
        result = baostore("verify", str(path), digest, "--outboard", str(outboard))
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode in (EXIT_ERROR, EXIT_DAMAGED)
    said = result.stdout + result.stderr
    assert b"changed while it was verified" in said or b": partial:" in said
