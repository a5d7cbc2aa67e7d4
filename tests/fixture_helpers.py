"""What a test module's fixtures set up and always tear down: server processes (one node or
several on one database and Redis) and a connected Database (the preambles each module would
otherwise spell out)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from domain.db import Database
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


@contextlib.asynccontextmanager
async def connected_db(database_url: str, pool_size: int = 2) -> AsyncIterator[Database]:
    """A Database with its own pool, closed after."""
    database = Database(database_url, pool_size=pool_size)
    await database.connect()
    try:
        yield database
    finally:
        await database.close()
