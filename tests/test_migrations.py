"""Migrations: from an empty database to head, and idempotent (tests/test_schema_sql.py checks
the code's queries against the schema they build)."""

from __future__ import annotations

import importlib
from pathlib import Path

import asyncpg

from domain.migrate import migrate
from server.engines import EmbeddedEngines
from tests.fixture_helpers import copy_pg_folder

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _declared_ids() -> list[str]:
    """The ID of every migration file in migrations/."""
    return sorted(importlib.import_module(f"migrations.{p.stem}").ID
                  for p in MIGRATIONS.glob("m[0-9]*.py"))


async def test_empty_database_to_head_and_again(tmp_path: Path, pg_blank: Path) -> None:
    """Every migration applies to an empty database, a second run applies nothing, and the
    migration table records exactly the ones that ran."""
    copy_pg_folder(pg_blank, tmp_path)  # initdb'd once per session, nothing migrated
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, _ = engines.start()
    try:
        ran = await migrate(db_url)
        assert ran == _declared_ids() and len(ran) >= 11, "an empty database gets every one"
        assert await migrate(db_url) == []
        conn = await asyncpg.connect(db_url)
        try:
            recorded = [r["name"] for r in await conn.fetch(
                "SELECT name FROM migration WHERE app_name = 'readalong' ORDER BY name")]
            assert recorded == ran
        finally:
            await conn.close()
    finally:
        engines.stop()
