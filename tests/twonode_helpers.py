"""Server processes for a test module's fixtures: started, handed to the tests, always stopped
(the preamble the one-node and two-node fixtures would otherwise each spell out)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.hub_support import start_nodes
from tests.support import ServerProcess


@contextlib.contextmanager
def running_nodes(env: dict[str, str], log_dir: Path, n: int = 2) -> Iterator[list[ServerProcess]]:
    """`n` server processes on one database and Redis (each its own node id), stopped after."""
    nodes = start_nodes(env, log_dir, n)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@contextlib.contextmanager
def running_server(env: dict[str, str], log_dir: Path) -> Iterator[ServerProcess]:
    """One server process with `env`, stopped after."""
    proc = ServerProcess(env, log_dir=log_dir).start()
    try:
        yield proc
    finally:
        proc.stop()
