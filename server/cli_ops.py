"""`readalong backup <folder | s3://bucket/prefix>` and `readalong restore <same>`
(domain/ops/backup.py says what goes into a backup and what is skipped, and why;
domain/ops/backup_store.py how a bucket is written and read)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import tempfile
from pathlib import Path

from domain.db import Database
from domain.jobqueue import enqueue
from domain.migrate import migrate
from domain.ops import backup as bk
from domain.ops import backup_store
from domain.ops.ol_import import start_run
from domain.ops.rebuild import rebuild_derived
from domain.redisconn import connect
from domain.settings import Settings

#: the tables whose row counts a manifest records (and the restore test checks)
COUNTED = ("users", "books", "reading_sessions", "session_messages", "session_annotations",
           "notifications", "follows", "activities")


def pg_bin() -> Path | None:
    """The binaries shipped inside the pgserver package (the engine's own pg_dump/pg_restore)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


async def _counts(db: Database) -> dict[str, int]:
    return {t: int(await db.pool.fetchval(f"SELECT count(*) FROM {t}")) for t in COUNTED}


async def _backup(settings: Settings, folder: Path) -> dict[str, int]:
    assert settings.database_url and settings.redis_url
    db = Database(settings.database_url, pool_size=2)
    await db.connect()
    redis = connect(settings.redis_url, queue_url=settings.queue_url)
    try:
        counts = await _counts(db)
        migrations = [r["name"] for r in await db.pool.fetch(
            "SELECT name FROM migration ORDER BY id")]
        await asyncio.to_thread(bk.dump_postgres, settings.database_url, folder, pg_bin())
        (folder / bk.REDIS_FILE).write_text(json.dumps(await bk.dump_redis(redis)))
        avatars = backup_store.copy_avatars_in(settings, folder)
        bk.write_manifest(folder, migrations, counts, avatars)
        return counts
    finally:
        await redis.aclose()
        await db.close()


async def _is_empty(database_url: str) -> bool:
    db = Database(database_url, pool_size=1)
    await db.connect()
    try:
        n = await db.pool.fetchval("SELECT count(*) FROM information_schema.tables"
                                   " WHERE table_schema = 'public'")
        return int(n) == 0
    finally:
        await db.close()


async def _after_restore(settings: Settings, folder: Path) -> dict[str, int]:
    assert settings.database_url and settings.redis_url
    await migrate(settings.database_url)  # a backup from an older version: bring it up to date
    db = Database(settings.database_url, pool_size=2)
    await db.connect()
    redis = connect(settings.redis_url, queue_url=settings.queue_url)
    try:
        kept = await bk.load_redis(redis, json.loads((folder / bk.REDIS_FILE).read_text()))
        avatars = backup_store.copy_avatars_out(settings, folder)
        return {"redis_keys": kept, "avatar_files": avatars,
                **await rebuild_derived(db, redis, settings),
                **await _counts(db)}
    finally:
        await redis.aclose()
        await db.close()


def cmd_backup(settings: Settings, args: argparse.Namespace, engines_for: object) -> int:
    where: str = args.folder
    if backup_store.is_remote(where):
        try:
            asyncio.run(backup_store.check_empty(settings, where))
        except bk.BackupError as exc:
            print(f"error: {exc}", flush=True)
            return 1
        with tempfile.TemporaryDirectory(prefix="readalong-backup-") as tmp:
            return _backup_into(settings, Path(tmp), where, engines_for)
    folder = Path(where)
    if folder.exists() and any(folder.iterdir()):
        print(f"error: {folder} is not empty", flush=True)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    return _backup_into(settings, folder, None, engines_for)


def _backup_into(settings: Settings, folder: Path, remote: str | None,
                 engines_for: object) -> int:
    with engines_for(settings) as s:  # type: ignore[operator]
        counts = asyncio.run(_backup(s, folder))
    if remote is not None:
        try:
            asyncio.run(backup_store.upload(settings, folder, remote))
        except bk.BackupError as exc:
            print(f"error: {exc}", flush=True)
            return 1
    target = backup_store.describe(settings, remote or str(folder))
    print(f"backup written to {target}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("Redis kept: " + ", ".join(bk.KEPT))
    for prefix, why in bk.SKIPPED.items():
        print(f"Redis skipped {prefix}: {why}")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace, engines_for: object) -> int:
    where: str = args.folder
    if not backup_store.is_remote(where):
        return _restore_from(settings, Path(where), engines_for)
    with tempfile.TemporaryDirectory(prefix="readalong-restore-") as tmp:
        try:
            asyncio.run(backup_store.download(settings, where, Path(tmp)))
        except bk.BackupError as exc:
            print(f"error: {exc}", flush=True)
            return 1
        return _restore_from(settings, Path(tmp), engines_for)


def _restore_from(settings: Settings, folder: Path, engines_for: object) -> int:
    try:
        bk.verify(folder)
    except bk.BackupError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    with engines_for(settings) as s:  # type: ignore[operator]
        assert s.database_url
        if not asyncio.run(_is_empty(s.database_url)):
            print("error: the database is not empty; restore goes into a fresh installation",
                  flush=True)
            return 1
        try:
            bk.restore_postgres(s.database_url, folder, pg_bin())
        except bk.BackupError as exc:
            print(f"error: {exc}", flush=True)
            return 1
        done = asyncio.run(_after_restore(s, folder))
    print("restored: " + ", ".join(f"{k} {v}" for k, v in done.items()))
    return 0


async def _enqueue_import(settings: Settings, path: str, kind: str = "openlibrary") -> int:
    assert settings.database_url and settings.redis_url
    await migrate(settings.database_url)
    db = Database(settings.database_url, pool_size=1)
    await db.connect()
    redis = connect(settings.redis_url, queue_url=settings.queue_url)
    try:
        run_id = await start_run(db, path, kind)
        await enqueue(redis, "import_catalog_csv" if kind == "csv" else "import_openlibrary",
                      path, run_id)
        return run_id
    finally:
        await redis.aclose()
        await db.close()


def cmd_import(settings: Settings, args: argparse.Namespace, engines_for: object) -> int:
    path = Path(args.path).resolve()
    if not path.is_file():
        print(f"error: {path} is not a file", flush=True)
        return 1
    with engines_for(settings) as s:  # type: ignore[operator]
        run_id = asyncio.run(_enqueue_import(s, str(path), args.kind))
    print(f"import run {run_id} queued for the worker (progress: import_runs row {run_id})")
    return 0


def add_commands(sub: argparse._SubParsersAction, engines_for: object) -> None:  # type: ignore[type-arg]
    backup = sub.add_parser("backup", help="dump PostgreSQL and Redis's non-derived keys")
    backup.add_argument("folder", help="an empty or new folder, or s3://bucket/prefix "
                        "(READALONG_S3_ENDPOINT and keys)")
    backup.set_defaults(func=lambda s, a: cmd_backup(s, a, engines_for))
    restore = sub.add_parser("restore", help="restore a backup into an empty installation")
    restore.add_argument("folder", help="a backup folder or s3://bucket/prefix")
    restore.set_defaults(func=lambda s, a: cmd_restore(s, a, engines_for))
    ol = sub.add_parser("import-openlibrary", help="queue an Open Library dump import")
    ol.add_argument("path", help="a dump file (editions, works, authors; uncompressed)")
    ol.set_defaults(func=lambda s, a: cmd_import(s, a, engines_for), kind="openlibrary")
    csv = sub.add_parser("import-csv", help="queue a catalog import from a CSV "
                         "(isbn, title, authors, ...; domain/ops/csv_import.py)")
    csv.add_argument("path", help="a CSV file with a header row")
    csv.set_defaults(func=lambda s, a: cmd_import(s, a, engines_for), kind="csv")
