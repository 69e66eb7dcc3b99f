"""A command loads what it runs: the parser is built for the command named (the full one only for
the overview), and its modules come in only then, so local commands start without the gRPC,
object-store, rich and Prometheus stacks. A receiving command keeps freed memory for reuse."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from baostore.cli.main import COMMAND_NAMES, build_parser

SOME_DIGEST = "af" * 32


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_the_command_list_is_the_full_parser_s() -> None:
    assert tuple(_subcommands(build_parser())) == COMMAND_NAMES


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_a_command_s_own_parser_is_the_full_parser_s(command: str) -> None:
    full = _subcommands(build_parser())[command]
    alone = _subcommands(build_parser(command))
    assert set(alone) <= set(COMMAND_NAMES) and command in alone
    assert alone[command].format_help() == full.format_help()


@pytest.mark.parametrize(
    "line",
    [
        ["get", SOME_DIGEST, "-o", "out.bin", "--range", "1KiB:", "--shift", "0", "--no-cache"],
        ["verify", "file.iso", SOME_DIGEST, "--outboard", "file.obao", "--json"],
        ["serve", "--store", "memory://", "--listen", "127.0.0.1:0", "--max-blob-size", "1GB"],
        ["stat", SOME_DIGEST, "--format", "leaves", "--json"],
        ["hash", "a", "b"],
    ],
)
def test_a_command_line_parses_alike_either_way(line: list[str]) -> None:
    full = vars(build_parser().parse_args(line))
    alone = vars(build_parser(line[0]).parse_args(line))
    assert repr(alone) == repr(full)


HEAVY = ("grpc", "google.protobuf", "obstore", "rich", "prometheus_client")


def _modules_loaded_by(arguments: list[str]) -> list[str]:
    script = (
        "import json, sys\n"
        "from baostore.cli import main\n"
        "try:\n"
        "    status = main(sys.argv[1:])\n"
        "except SystemExit as done:  # --version\n"
        "    status = done.code or 0\n"
        f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, check=True
    )
    status, loaded = json.loads(done.stdout.splitlines()[-1])
    assert status == 0, done.stderr
    return list(loaded)


def test_local_file_commands_load_no_network_or_ui_stack(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 5000)
    outboard = tmp_path / "data.obao"
    assert _modules_loaded_by(["outboard", str(data), "-o", str(outboard)]) == []
    digest = subprocess.run(
        [sys.executable, "-m", "baostore.cli", "hash", str(data)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert _modules_loaded_by(["hash", str(data)]) == []
    assert _modules_loaded_by(["verify", str(data), digest, "--outboard", str(outboard)]) == []
    assert _modules_loaded_by(["--version"]) == []


def test_the_allocator_is_tuned_unless_the_environment_says_otherwise() -> None:
    from baostore.cli.environment import tune_allocator

    assert tune_allocator({"MALLOC_TRIM_THRESHOLD_": "131072"}) is False
    assert tune_allocator({"MALLOC_MMAP_THRESHOLD_": "131072"}) is False
    if sys.platform != "linux":
        pytest.skip("mallopt is glibc's")
    assert tune_allocator({}) is True
