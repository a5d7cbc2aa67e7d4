"""The worker's modules import at the top and sit in no import cycle (issue 9), and the worker
options are built by a function, not when `jobs.worker` is imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("domain", "jobs", "realtime", "server")
# the worker's area (jobs/sessions.py and jobs/reading.py belong to other areas)
OTHERS = ("sessions.py", "reading.py")
OWNED = ["jobs/" + p.name for p in (ROOT / "jobs").glob("*.py") if p.name not in OTHERS] + [
    "server/cli.py", "server/health.py", "domain/db.py",
    "domain/failed_jobs.py", "domain/jobqueue.py"]


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_worker_modules_are_in_no_import_cycle() -> None:
    """No module of the worker's area imports (through any chain) a module that imports it
    back, counting imports anywhere in the file."""
    graph = _graph()
    cycles = [(m, d) for m in (_module(ROOT / p) for p in OWNED) for d in graph[m]
              if _reaches(graph, d, m)]
    assert cycles == []


def test_worker_modules_import_at_the_top() -> None:
    """No import statement inside a function or method in the worker's modules."""
    inner = []
    for rel in OWNED:
        tree = ast.parse((ROOT / rel).read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner += [f"{rel}:{n.lineno}" for n in ast.walk(fn)
                          if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert inner == []


def test_importing_the_worker_reads_no_environment() -> None:
    """`import jobs.worker` with a broken environment succeeds (nothing is read at import);
    asking for `WorkerSettings`, as `arq jobs.worker.WorkerSettings` does, reports it."""
    code = ("import jobs.worker as w\nprint(len(w.FUNCTIONS))\n"
            "try:\n    w.WorkerSettings\nexcept Exception as exc:\n    print(type(exc).__name__)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "READALONG_ENV": "nonsense",
           "REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    count, error = out.stdout.split()
    assert int(count) > 0 and error == "SettingsError"
