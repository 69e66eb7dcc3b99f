"""A short run of benches/load_test.py: 8 clients mixing put/get/range/stat for 3 s, no errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from baostore.store.chunked import ChunkedStore
from baostore.store.fsck import check_store
from baostore.store.objects import file_backend

BENCH = Path(__file__).parent.parent / "benches" / "load_test.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_short_load_has_no_errors(tmp_path: Path) -> None:
    bench = load_bench()
    result = bench.run_load(seconds=3.0, clients=8, store_url=(tmp_path / "store").as_uri())
    assert result.errors == []
    assert all(result.requests[operation] > 0 for operation in bench.OPERATIONS)
    assert result.rss_samples
    # Whatever the load did, the store it leaves is sound.
    report = check_store(ChunkedStore(file_backend(tmp_path / "store")))
    assert not report.corrupt
    assert report.records_checked > 0
