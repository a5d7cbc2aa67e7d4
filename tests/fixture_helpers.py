"""What tests and their fixtures set up and always tear down: server processes (one node or
several on one database and Redis; `readalong serve` itself), a connected Database, and a
test's own engines to stop and start (the preambles each module would otherwise spell out), on
a copy of a PostgreSQL data folder made once per session instead of initdb and migrations each."""

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
from server.engines import EmbeddedEngines, EmbeddedPostgres
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


def make_pg_folder(folder: Path, *, migrated: bool, start_from: Path | None = None) -> Path:
    """A stopped PostgreSQL data folder at `folder/pg` with the readalong database: a copy of
    `start_from`'s (or a new one, initdb), migrated to head if `migrated`; for copy_pg_folder."""
    if start_from is not None:
        copy_pg_folder(start_from, folder)
    postgres = EmbeddedPostgres(folder, options={"fsync": "off"})
    url = postgres.start()
    try:
        if migrated:
            asyncio.run(migrate(url))
    finally:
        postgres.stop()
    # a fast shutdown removes the pid file; a folder still holding one would need recovery
    assert not (folder / "pg" / "postmaster.pid").exists(), "PostgreSQL did not stop cleanly"
    return folder


def copy_pg_folder(template: Path, data_dir: Path) -> None:
    """Put a copy of the stopped data folder `template/pg` at `data_dir/pg`, where
    EmbeddedPostgres (and `readalong serve`) start it without initdb (`cp -a` keeps the owner
    and the modes PostgreSQL checks)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(template / "pg"), str(data_dir / "pg")], check=True,
                   timeout=120)


@contextlib.contextmanager
def own_stack(tmp_path: Path, template: Path
              ) -> Iterator[tuple[EmbeddedEngines, str, ServerProcess]]:
    """This test's own embedded PostgreSQL (a copy of the migrated `template`, the `pg_template`
    fixture) and Redis, free to stop and start, and a server on them: (engines, database URL,
    server); the server, then the engines, stop after."""
    copy_pg_folder(template, tmp_path)
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, redis_url = engines.start()
    try:
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
