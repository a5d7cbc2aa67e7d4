"""The shape of the code base: no oversized module, no import cycle among the project's modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZED = ("server", "realtime", "domain", "jobs")   # the application packages
PACKAGES = (*SIZED, "load", "migrations")           # everything importable of ours
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports anywhere in the file: function-level imports and
    `if TYPE_CHECKING:` ones count too (a type-only loop is still two modules that cannot be
    understood, or split, one without the other)."""
    return _imports_text(module, path.name == "__init__.py", path.read_text(), known)


def _imports_text(module: str, is_package: bool, source: str, known: set[str]) -> set[str]:
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()

    def resolve(name: str) -> None:
        # the longest known prefix: `from domain.db import Database` -> domain.db
        while name:
            if name in known:
                out.add(name)
                return
            name = name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    resolve(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                names_only = False
                for alias in child.names:  # `from pkg import submodule` names the submodule
                    if f"{target}.{alias.name}" in known:
                        out.add(f"{target}.{alias.name}")
                    else:
                        names_only = True
                if names_only:  # a name defined in `target` itself
                    resolve(target)
            visit(child)

    visit(tree)
    out.discard(module)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def _path_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete import loop inside a cycle, for the failure message."""
    members = set(component)
    start = component[0]
    seen = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*seen[v], start]
            if w not in seen:
                seen[w] = [*seen[v], w]
                queue.append(w)
    return component


def test_no_module_is_over_400_lines() -> None:
    """No module of server/, realtime/, domain/ or jobs/ is longer than 400 lines."""
    modules = _modules()
    too_long = {str(path.relative_to(ROOT)): n for name, path in modules.items()
                if name.split(".")[0] in SIZED
                and (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_no_import_cycles() -> None:
    """No chain of imports among the project's modules leads back to where it started."""
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    assert graph["server.app"], "the import parser found nothing: it is broken"
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(
        " -> ".join(_path_within(graph, c)) + f"   (all of: {', '.join(c)})" for c in cycles)


def test_the_cycle_finder_finds_cycles() -> None:
    """The checker itself: a loop of three modules is one cycle; a chain is none."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_a_submodule_import_is_not_an_import_of_the_package() -> None:
    """`from pkg import sub` depends on pkg.sub; `from pkg import name` on pkg itself."""
    known = {"pkg", "pkg.sub", "pkg.other"}
    source = "from pkg import sub\nfrom pkg.other import thing\n"
    found = _imports_text("pkg.mod", False, source, known)
    assert found == {"pkg.sub", "pkg.other"}
    assert _imports_text("pkg.mod", False, "from pkg import name\n", known) == {"pkg"}
