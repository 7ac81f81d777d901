"""The code's import structure: no two modules import each other, however indirectly (lazy
imports and TYPE_CHECKING ones count: they tie the modules together all the same). The
direction rules (services -> shared, services independent) are import-linter contracts in
pyproject.toml, run by ``make lint``."""

from __future__ import annotations

import tomllib

import grimp
import pytest

from tests.paths import REPO

# the packages the import-linter contracts cover: one list, in pyproject.toml
PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:  # importer -> imported -> ... -> importer
                cycle = (importer, *back[:-1])
                start = cycle.index(min(cycle))
                found.add(cycle[start:] + cycle[:start])
    return sorted(found)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_a_cycle_is_found(graph: grimp.ImportGraph) -> None:
    graph.add_import(importer="pcaptotal.clock", imported="pcaptotal.captures")
    assert ("pcaptotal.captures", "pcaptotal.clock") in _cycles(graph)
