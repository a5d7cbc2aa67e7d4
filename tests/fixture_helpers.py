"""What tests and their fixtures set up and always tear down: server processes (one node or
several on one database and Redis; `readalong serve` itself), a connected Database, and a
test's own engines to stop and start (the preambles each module would otherwise spell out)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from domain.db import Database
from domain.migrate import migrate
from server.engines import EmbeddedEngines
from tests.accounts_helpers import register
from tests.hub_support import start_nodes
from tests.support import ROOT, ServerProcess, eventually, server_env


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


def serve_cli(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`readalong serve` on `port` (uvicorn with the READALONG_WS_* settings applied), ready."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"readalong serve exited early: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("readalong serve did not become ready")


@contextlib.contextmanager
def own_stack(tmp_path: Path) -> Iterator[tuple[EmbeddedEngines, str, ServerProcess]]:
    """This test's own embedded PostgreSQL and Redis (free to stop and start), migrated, and a
    server on them: (engines, database URL, server); the server, then the engines, stop after."""
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, redis_url = engines.start()
    try:
        asyncio.run(migrate(db_url))
        with running_server(server_env(db_url, redis_url), tmp_path) as proc:
            yield engines, db_url, proc
    finally:
        engines.stop()


async def follow_is_delivered(http: httpx.AsyncClient, data_dir: Path, unique: str) -> None:
    """Through `http`, a new reader follows another; the worker delivers that one's
    notification (read from the PostgreSQL `readalong serve` keeps under `data_dir`)."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    r = await http.post(f"/api/v1/users/{bea.handle}/follow", headers=ana.headers)
    assert r.status_code == 200
    dsn = f"postgresql://postgres@/readalong?host={data_dir / 'pg'}"

    async def delivered() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return bool(await conn.fetchval(
                "SELECT delivered_at IS NOT NULL FROM notifications WHERE recipient_id = $1",
                bea.id))
        finally:
            await conn.close()

    await eventually(delivered, timeout=30)
