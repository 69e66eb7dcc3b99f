"""The import arrows run one way (cli → grpc → compose → verify → store → bao → _bao, with the
URL/config opener above store and grpc), and docs/architecture.md draws them as they are.

The checks live in scripts/dependencies.py (which also redraws the picture); these tests run
them on the package, and on made-up modules to show that an arrow running up is caught.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import dependencies


def test_every_import_runs_down() -> None:
    graph = dependencies.read_graph()
    assert "baostore.verify.reader" in graph and "baostore.cli.main" in graph
    assert dependencies.upward_imports(graph) == []


def test_the_architecture_document_draws_the_imports_as_they_are() -> None:
    document = dependencies.ARCHITECTURE.read_text(encoding="utf-8")
    drawn = dependencies.picture(dependencies.read_graph())
    assert dependencies.with_picture(document, drawn) == document, (
        "docs/architecture.md is stale: run scripts/dependencies.py --write"
    )


def test_an_import_that_runs_up_is_caught() -> None:
    source = "from baostore.verify.reader import open_verified\n"
    imported = dependencies.imports_of(source, "baostore.store.chunked", is_package=False)
    problems = dependencies.upward_imports({"baostore.store.chunked": imported})
    assert len(problems) == 1 and "baostore.store.chunked imports baostore.verify" in problems[0]


def test_imports_inside_functions_and_relative_ones_count() -> None:
    source = (
        "from . import record\n"
        "def late() -> None:\n"
        "    from ..cli import main\n"
        "    import baostore.grpc.client\n"
    )
    imported = dependencies.imports_of(source, "baostore.store.chunked", is_package=False)
    assert imported == {"baostore.store.record", "baostore.cli.main", "baostore.grpc.client"}
    problems = dependencies.upward_imports({"baostore.store.chunked": imported})
    assert [problem.split(":")[0] for problem in problems] == [
        "baostore.store.chunked imports baostore.cli.main",
        "baostore.store.chunked imports baostore.grpc.client",
    ]


def test_parts_of_one_layer_stay_apart_and_unknown_parts_are_named() -> None:
    sideways = {"baostore.errors": frozenset({"baostore.sizes"})}
    assert len(dependencies.upward_imports(sideways)) == 1
    unknown = {"baostore.newpart.thing": frozenset({"baostore.store"})}
    assert "in no layer" in dependencies.upward_imports(unknown)[0]


def test_names_of_the_package_itself_are_its_top() -> None:
    imported = dependencies.imports_of(
        "from baostore import bao, open_store\n", "baostore.cli.main", is_package=False
    )
    graph = {"baostore.cli.main": imported, "baostore.bao": frozenset()}
    assert dependencies.part_arrows(graph)["cli"] == ["baostore", "bao"]
    assert len(dependencies.upward_imports(graph)) == 1  # the package's own names sit above cli
