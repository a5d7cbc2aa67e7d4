"""Shared fixtures: embedded PostgreSQL and Redis for the session, real uvicorn servers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from domain.settings import Settings
from realtime.publisher import Publisher
from server.engines import EmbeddedEngines
from tests.fixture_helpers import copy_pg_folder, make_pg_folder
from tests.hub_support import node_env, start_nodes
from tests.support import ServerProcess, server_env

TEST_PG_OPTIONS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class Engines:
    def __init__(self, engines: EmbeddedEngines, database_url: str, redis_url: str,
                 data_dir: Path) -> None:
        self.embedded = engines
        self.database_url = database_url
        self.redis_url = redis_url
        self.data_dir = data_dir

    def env(self, **overrides: str) -> dict[str, str]:
        return server_env(self.database_url, self.redis_url, **overrides)


@pytest.fixture(scope="session")
def pg_blank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped PostgreSQL data folder (`<it>/pg`) with an empty readalong database, made once:
    tests that need an empty one copy it (tests/fixture_helpers.copy_pg_folder)."""
    return make_pg_folder(tmp_path_factory.mktemp("pg-blank"), migrated=False)


@pytest.fixture(scope="session")
def pg_template(pg_blank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pg_blank migrated to head, made once: the session engines and every test with engines
    of its own start on a copy (a copy takes a fraction of initdb plus the migrations)."""
    return make_pg_folder(tmp_path_factory.mktemp("pg-template"), migrated=True,
                          start_from=pg_blank)


@pytest.fixture(scope="session")
def engines(pg_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    """One embedded PostgreSQL (a copy of pg_template, migrated to head) and Redis for the
    whole session."""
    data = tmp_path_factory.mktemp("var")
    copy_pg_folder(pg_template, data)
    embedded = EmbeddedEngines(data, pg_options=TEST_PG_OPTIONS, persist_redis=False)
    db_url, redis_url = embedded.start()
    try:
        yield Engines(embedded, db_url, redis_url, data)
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def server(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real uvicorn process shared by the tests that only need REST/WS on one node."""
    logs = tmp_path_factory.mktemp("logs")
    # every test registers and logs in from 127.0.0.1: relax the per-address auth rate limits
    # here (tests/test_auth_limits.py checks them on a server of its own)
    proc = ServerProcess(engines.env(READALONG_REGISTER_RATE="100000",
                                     READALONG_LOGIN_RATE="100000"), log_dir=logs).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def hub_nodes(engines: Engines,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two hub nodes with the hub tests' settings (tests/hub_support.HUB_ENV) and no other,
    shared by the hub modules that need nothing of their own (each started its own before)."""
    procs = start_nodes(node_env(engines), tmp_path_factory.mktemp("hubnodes"), 2)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope="session")
def two_nodes(engines: Engines,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two plain server nodes on the session engines (registration not rate-limited), shared by
    the modules that check what crosses nodes (reading, clubs, sessions, readers' rooms)."""
    procs = start_nodes(engines.env(READALONG_REGISTER_RATE="100000"),
                        tmp_path_factory.mktemp("two-nodes"), 2)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@pytest_asyncio.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
        yield client


_counter = itertools.count()


@pytest.fixture
def unique() -> str:
    """A short token unique in this session, for handles, emails and titles."""
    return f"{uuid.uuid4().hex[:6]}{next(_counter)}"


@pytest_asyncio.fixture
async def publisher(engines: Engines) -> AsyncIterator[Publisher]:
    """The hub's Publisher on the session Redis (history of 50 events per room)."""
    redis = Redis.from_url(engines.redis_url)
    try:
        yield Publisher(redis, Settings(history_size=50))
    finally:
        await redis.aclose()
