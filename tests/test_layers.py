"""The package's shape: the import contracts in pyproject.toml hold (lint-imports), and no module imports itself
back through others (lazy imports inside functions and TYPE_CHECKING imports count: each is a dependency)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crosscheck", "numpy_mlp", "torch_ref")


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One shortest cycle through each direct import a -> b that has a way back b -> ... -> a."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                found.append([importer, *back])
    return found


def test_the_import_contracts_hold():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in done.stdout  # every contract was checked


def test_no_module_imports_itself_back():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert "crosscheck.cli.sweep" in graph.modules  # the graph is this checkout's, lazy imports and all
    assert cycles(graph) == []


def test_a_circle_is_found_through_any_number_of_modules():
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.a", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert cycles(graph) == [["p.a", "p.b", "p.c", "p.a"], ["p.b", "p.c", "p.a", "p.b"],
                             ["p.c", "p.a", "p.b", "p.c"]]
