"""The CLI with --config/--root (and $BAOSTORE_CONFIG); `baostore serve --config` as a caching
proxy in front of a real server."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from baostore import bao
from baostore.cli.main import main
from baostore.grpc.client import GrpcBlobStore
from baostore.open import open_store
from baostore.store.chunked import ChunkedStore
from baostore.store.objects import memory_backend

from tests.support.grpc_server import serve_in_thread

BLOB = random.Random(12).randbytes(900_000)
DIGEST = bao.hash(BLOB)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stores.toml"
    path.write_text(text)
    return path


def two_stores(tmp_path: Path) -> Path:
    return config_file(
        tmp_path,
        '[stores.root]\npath = "main"\n[stores.spare]\npath = "spare"\n',
    )


@pytest.fixture(autouse=True)
def no_store_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAOSTORE_URL", raising=False)
    monkeypatch.delenv("BAOSTORE_CONFIG", raising=False)


def test_put_get_stat_with_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_stores(tmp_path)
    source = tmp_path / "blob.bin"
    source.write_bytes(BLOB)
    assert main(["put", str(source), "--config", str(config), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == DIGEST.hex()
    assert open_store((tmp_path / "main").as_uri()).has(DIGEST)
    assert not open_store((tmp_path / "spare").as_uri()).has(DIGEST)

    output = tmp_path / "copy.bin"
    assert main(["get", DIGEST.hex(), "-o", str(output), "--config", str(config)]) == 0
    assert output.read_bytes() == BLOB
    assert main(["stat", DIGEST.hex(), "--config", str(config), "--json"]) == 0
    assert f'"size": {len(BLOB)}' in capsys.readouterr().out

    status = main(["stat", DIGEST.hex(), "--config", str(config), "--root", "spare"])
    assert status == 3
    assert f"{config}#spare" in capsys.readouterr().err


def test_config_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = two_stores(tmp_path)
    monkeypatch.setenv("BAOSTORE_CONFIG", str(config))
    source = tmp_path / "blob.bin"
    source.write_bytes(b"from the environment")
    assert main(["put", str(source), "--root", "spare", "--no-progress"]) == 0
    digest = bytes.fromhex(capsys.readouterr().out.strip())
    assert open_store((tmp_path / "spare").as_uri()).has(digest)
    # $BAOSTORE_URL wins over $BAOSTORE_CONFIG, and --store over both.
    monkeypatch.setenv("BAOSTORE_URL", (tmp_path / "by-url").as_uri())
    assert main(["put", str(source), "--no-progress"]) == 0
    assert open_store((tmp_path / "by-url").as_uri()).has(digest)


def test_store_and_config_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = two_stores(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["stat", DIGEST.hex(), "--store", "memory://", "--config", str(config)])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_root_needs_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stat", DIGEST.hex(), "--store", "memory://", "--root", "spare"]) == 2
    assert "--root NAME picks a store of a config file" in capsys.readouterr().err


def test_bad_configs_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, "[stores.root]\ntype = 'cache'\nnear = 'x'\nfar = 'y'\n")
    assert main(["stat", DIGEST.hex(), "--config", str(config)]) == 2
    assert "bad store configuration" in capsys.readouterr().err
    assert main(["stat", DIGEST.hex(), "--config", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    assert main(["stat", DIGEST.hex(), "--config", str(two_stores(tmp_path)), "--root", "x"]) == 2
    assert "no store named 'x'" in capsys.readouterr().err


def test_serve_config_is_a_caching_proxy(tmp_path: Path) -> None:
    far_store = ChunkedStore(memory_backend())
    far_store.put(BLOB)
    with serve_in_thread(far_store) as far_url:
        config = config_file(
            tmp_path,
            f"""
            [stores.near]
            path = "cache"
            [stores.far]
            url = "{far_url}"
            [stores.root]
            type = "cache"
            near = "near"
            far = "far"
            """,
        )
        command = [sys.executable, "-m", "baostore.cli", "serve", "--config", str(config)]
        process = subprocess.Popen(
            [*command, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            match = re.search(r"serving (\S+) on (\S+)", line)
            assert match is not None, line
            assert match.group(1) == f"{config}#root"
            with GrpcBlobStore.from_url(f"grpc+http://{match.group(2)}") as proxy:
                reader = proxy.open_read(DIGEST)
                assert reader is not None and reader.read() == BLOB
                assert proxy.stat(DIGEST) is not None
        finally:
            process.terminate()
            process.communicate(timeout=60)
    assert process.returncode == 0
    # The proxy's near tier now holds the blob, recorded by itself.
    near = open_store((tmp_path / "cache").as_uri())
    reader = near.open_read(DIGEST)
    assert reader is not None and reader.read() == BLOB
