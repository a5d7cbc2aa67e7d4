"""Migrations: from an empty database to head, idempotent, and matching the piccolo tables."""

from __future__ import annotations

import importlib
from pathlib import Path

import asyncpg

from domain.migrate import migrate
from server.engines import EmbeddedEngines

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _declared_ids() -> list[str]:
    """The ID of every migration file in migrations/."""
    return sorted(importlib.import_module(f"migrations.{p.stem}").ID
                  for p in MIGRATIONS.glob("m[0-9]*.py"))


async def test_empty_database_to_head_and_again(tmp_path: Path) -> None:
    """Every migration applies to an empty database, a second run applies nothing, and every
    table the code declares exists with every declared column."""
    from domain.registry import TABLES

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
            for table in TABLES:
                name = table._meta.tablename
                cols = {r["column_name"] for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                    name)}
                assert cols, f"table {name} is declared but missing from the database"
                declared = {c._meta.db_column_name for c in table._meta.columns}
                assert declared <= cols, f"{name} lacks columns {declared - cols}"
        finally:
            await conn.close()
    finally:
        engines.stop()
