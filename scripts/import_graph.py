"""Print the project's import graph: edges between packages and the modules that sit in import cycles.

Counts every import statement, including those inside functions (an import that runs later is still a
dependency). Used for the before/after figures of the layering work (issue 9); the checks that keep the
graph clean are `lint-imports` and tests/test_architecture.py.

Usage: python3 scripts/import_graph.py [package,package,...]   (default: the project's packages)
"""

from __future__ import annotations

import ast
import collections
import pathlib
import sys

DEFAULT = "core,catalog,nlu,bot,broadcasts,connectors,app"


def modules(packages: list[str], root: pathlib.Path = pathlib.Path()) -> dict[str, pathlib.Path]:
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def targets(current: str, node: ast.Import | ast.ImportFrom, known: dict[str, pathlib.Path]) -> list[str]:
    names = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = current.split(".")
            parts = parts if known[current].name == "__init__.py" else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        # `from package import module` runs the package's __init__ first: it depends on both
        names = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    resolved = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != current:
            resolved.append(name)
    return resolved


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in edges.get(node, ()):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def graph(packages: list[str], root: pathlib.Path = pathlib.Path()) -> dict[str, set[str]]:
    """Module → the project modules it imports (anywhere in the file, functions included)."""
    known = modules(packages, root)
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges[name].update(targets(name, node, known))
    return edges


def main() -> None:
    edges = graph((sys.argv[1] if len(sys.argv) > 1 else DEFAULT).split(","))
    packages = collections.Counter(
        (a.split(".")[0], b.split(".")[0])
        for a, bs in edges.items()
        for b in bs
        if a.split(".")[0] != b.split(".")[0]
    )
    print("package edges (module imports):")
    for (a, b), count in sorted(packages.items()):
        print(f"  {a} -> {b}: {count}")
    found = cycles(edges)
    print(f"cycles: {len(found)}, modules in cycles: {sum(len(c) for c in found)}")
    for component in found:
        print("  " + ", ".join(component))


if __name__ == "__main__":
    main()
