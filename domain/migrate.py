"""Apply the piccolo migrations in migrations/ to a database, from empty to head."""

from __future__ import annotations

import contextlib
import io
import os

from piccolo.engine.postgres import PostgresEngine

from domain.db import Database


class MigrationFailed(RuntimeError):
    pass


async def migrate(dsn: str, *, quiet: bool = True) -> list[str]:
    """Run every migration not yet applied; returns the ids that ran."""
    os.environ["PICCOLO_CONF"] = "domain.piccolo_conf"
    os.environ.setdefault("DATABASE_URL", dsn)
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    db = Database(dsn, pool_size=2)
    await db.connect()
    # piccolo's engine_finder() reads piccolo_conf.DB, which was fixed to the first DSN at import:
    # point it at this database, so that migrating a second database in one process works
    import domain.piccolo_conf as piccolo_conf

    piccolo_conf.DB = db.engine
    # piccolo's own bookkeeping table must talk to this database too (not the first one seen)
    Migration._meta.db = db.engine
    try:
        before = set(await Migration.get_migrations_which_ran(app_name="readalong")) \
            if await Migration.table_exists().run() else set()
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            result = await run_forwards(app_name="readalong")
        if not result.success:
            raise MigrationFailed(f"{result.message}\n{out.getvalue()}")
        after = set(await Migration.get_migrations_which_ran(app_name="readalong"))
        return sorted(after - before)
    finally:
        await db.close()


async def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside the migration's transaction (used by migrations/)."""
    from piccolo.apps.migrations.tables import Migration

    engine = Migration._meta.db
    assert isinstance(engine, PostgresEngine)
    current = engine.current_transaction.get()
    if current is not None:
        await current.connection.execute(sql)
    else:
        assert engine.pool is not None, "the migration engine has no pool"
        async with engine.pool.acquire() as conn:
            await conn.execute(sql)


def sql_migration(migration_id: str, description: str, sql: str):  # type: ignore[no-untyped-def]
    """Build the `forwards` coroutine of a migration file that applies one SQL script."""
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    async def forwards() -> MigrationManager:
        manager = MigrationManager(migration_id=migration_id, app_name="readalong",
                                   description=description)

        async def run() -> None:
            await execute_script(sql)

        manager.add_raw(run)
        return manager

    return forwards
