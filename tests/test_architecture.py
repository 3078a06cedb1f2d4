"""The import structure (docs/architecture.md): no cycle between any two modules, counting imports inside
functions, and nothing imports the composition root. ``lint-imports`` (run by ``make test``) checks the
layers; this checks what its contracts cannot express: cycles through module boundaries anywhere."""

from __future__ import annotations

from pathlib import Path

import grimp

from core.paths import PROJECT_ROOT
from scripts.import_graph import cycles, graph  # the same finder that printed the before/after figures

PACKAGES = ("core", "catalog", "nlu", "bot", "broadcasts", "connectors", "app")


def project_graph() -> dict[str, set[str]]:
    """grimp's graph, plus what it leaves out: ``from package import module`` also runs (depends on) the
    package's ``__init__``."""
    imports = grimp.build_graph(*PACKAGES, include_external_packages=False)
    edges = {m: set(imports.find_modules_directly_imported_by(m)) for m in imports.modules}
    for module, targets in _ast_graph().items():
        edges.setdefault(module, set()).update(targets)
    return edges


def _ast_graph() -> dict[str, set[str]]:
    return graph(list(PACKAGES), PROJECT_ROOT)


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_from_package_import_module_depends_on_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.a import run\n")
    (package / "a.py").write_text("from pkg import b\n\ndef run() -> None: ...\n")
    (package / "b.py").write_text("")
    assert cycles(graph(["pkg"], tmp_path)) == [["pkg", "pkg.a"]]


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
