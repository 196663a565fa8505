"""The shape of the package (ARCHITECTURE.md): no import cycles, small modules, one direction.

Every import counts: top-level, inside functions, under `TYPE_CHECKING`, and
`importlib.import_module("vvrun…")` strings (the CLI's lazy command table).
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "vvrun"
MAX_LINES = 400
MAX_MEDIAN = 100


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The vvrun module an import names (`vvrun.x.y` or, for `from vvrun.x import y`, its
    nearest existing module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # `from pkg import submodule` depends on the submodule; `from pkg import name`
            # on the package
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and node.value.startswith("vvrun.") and " " not in node.value):
            names = [node.value]  # import_module("vvrun.commands.run") and friends
        for name in names:
            target = _resolve(name) if name.startswith("vvrun") else None
            if target and target != module:
                found.add(target)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        edges = packages.setdefault(_package(module), set())
        edges.update(_package(t) for t in targets if _package(t) != _package(module))
    assert _cycles(packages) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("vvrun.errors", "vvrun."),  # errors imports nothing from vvrun
        ("vvrun.text", "vvrun."),
        ("vvrun.steps", "vvrun.language"),  # the front end imports the step registry, not back
        ("vvrun.steps", "vvrun.engine"),
        ("vvrun.language", "vvrun.engine"),
        ("vvrun.language", "vvrun.plan"),
        ("vvrun.engine", "vvrun.commands"),
        ("vvrun.", "vvrun.cli"),  # nothing imports the CLI
    ],
)
def test_imports_point_one_way(low: str, high: str) -> None:
    wrong = sorted(
        f"{m} → {t}"
        for m, targets in GRAPH.items()
        if m.startswith(low) and not m.startswith(high.rstrip(".") + ".") and m != high
        for t in targets
        if (t.startswith(high) or t == high.rstrip(".")) and not t.startswith(low)
    )
    assert wrong == []


def _size(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_no_module_passes_400_lines() -> None:
    big = {m: _size(p) for m, p in MODULES.items() if _size(p) > MAX_LINES}
    assert big == {}


def test_median_module_is_small() -> None:
    sizes = [_size(p) for p in MODULES.values() if _size(p) > 0]
    assert statistics.median(sizes) <= MAX_MEDIAN
