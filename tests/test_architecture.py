"""The import structure (docs/architecture.md): no cycle between any two modules, counting imports inside
functions, and nothing imports the composition root. ``lint-imports`` (run by ``make test``) checks the
layers; this checks what its contracts cannot express: cycles through module boundaries anywhere."""

from __future__ import annotations

import grimp

from scripts.import_graph import cycles  # the same finder that printed the before/after figures

PACKAGES = ("core", "catalog", "nlu", "bot", "broadcasts", "connectors", "app")


def project_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_part_of_an_import_cycle() -> None:
    assert cycles(project_graph()) == []


def test_nothing_imports_the_composition_root() -> None:
    edges = project_graph()
    importers = sorted(
        m
        for m, targets in edges.items()
        if not m.startswith("app") and any(t == "app" or t.startswith("app.") for t in targets)
    )
    assert importers == []
