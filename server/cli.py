"""The `readalong` command: serve, migrate, seed, createadmin, worker, media, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import uvicorn

from domain.accounts.service import create_admin
from domain.catalog.demo import seed_demo_catalog
from domain.db import Database
from domain.errors import DomainError
from domain.migrate import MigrationFailed, migrate
from domain.ops.store import metrics_path, prepare_store
from domain.settings import Settings, SettingsError, load_settings
from jobs.supervisor import WorkerSupervisor
from jobs.worker import run_worker
from realtime.media.process import serve as serve_media
from realtime.transport import upgrade
from server.cli_ops import add_commands
from server.engines import EmbeddedEngines, EngineError
from server.logs import configure_logging

log = logging.getLogger("readalong.cli")


@contextmanager
def engines_for(settings: Settings) -> Iterator[Settings]:
    """Yield settings with DATABASE_URL and REDIS_URL set, starting embedded engines if needed.

    Engines we start are stopped when the block exits, whatever the reason; the URLs are also
    exported so that child processes (uvicorn workers, the arq worker) use the same servers.
    """
    if not settings.embedded:
        yield settings
        return
    engines = EmbeddedEngines(settings.data_path)
    db_url, redis_url = engines.start()
    log.info("embedded PostgreSQL at %s, Redis at %s (data in %s)", db_url, redis_url,
             settings.data_path)
    os.environ["DATABASE_URL"] = db_url
    os.environ["REDIS_URL"] = redis_url
    try:
        yield settings.with_engines(db_url, redis_url)
    finally:
        engines.stop()
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)


async def _migrate(settings: Settings) -> list[str]:
    assert settings.database_url
    return await migrate(settings.database_url)


async def _seed(settings: Settings, books: int, only_if_empty: bool) -> int:
    assert settings.database_url
    db = Database(settings.database_url, pool_size=4)
    await db.connect()
    try:
        return await seed_demo_catalog(db, books=books, only_if_empty=only_if_empty)
    finally:
        await db.close()


async def _createadmin(settings: Settings, email: str, handle: str, password: str) -> int:
    assert settings.database_url
    db = Database(settings.database_url, pool_size=2)
    await db.connect()
    try:
        return await create_admin(db, email=email, handle=handle, password=password)
    finally:
        await db.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    with engines_for(settings) as s:
        ran = asyncio.run(_migrate(s))
    print(f"applied {len(ran)} migration(s)" + (": " + ", ".join(ran) if ran else ""))
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    with engines_for(settings) as s:
        asyncio.run(_migrate(s))
        added = asyncio.run(_seed(s, args.books, args.if_empty))
    print(f"added {added} demo book(s)")
    return 0


def cmd_createadmin(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("READALONG_ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("give --password or READALONG_ADMIN_PASSWORD when not on a terminal",
                  file=sys.stderr)
            return 2
        password = getpass.getpass("Password: ")
    with engines_for(settings) as s:
        asyncio.run(_migrate(s))
        try:
            user_id = asyncio.run(_createadmin(s, args.email, args.handle, password))
        except DomainError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"admin @{args.handle} has id {user_id}")
    return 0


def _supervised_worker(settings: Settings) -> WorkerSupervisor:
    """`readalong worker` as a child process, restarted whenever it dies (jobs/supervisor.py)."""
    return WorkerSupervisor([sys.executable, "-m", "server.cli", "worker"], os.environ.copy(),
                            restart_max=settings.worker_restart_max).start()


def _supervised_media(settings: Settings) -> WorkerSupervisor:
    """`readalong media` (the audio stages' media process) as a child process, restarted."""
    return WorkerSupervisor([sys.executable, "-m", "server.cli", "media"], os.environ.copy(),
                            restart_max=settings.worker_restart_max).start()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    # one metrics store per run for every process on this host (server/metrics.py)
    prepare_store(metrics_path(settings))
    with engines_for(settings) as s:
        asyncio.run(_migrate(s))
        if args.demo:
            added = asyncio.run(_seed(s, args.demo_books, True))
            if added:
                print(f"loaded {added} demo books into the empty catalog")
        worker = _supervised_worker(s) if args.with_worker else None
        media = _supervised_media(s) if args.with_media else None
        host = args.host or s.host
        port = args.port or s.port
        print(f"Readalong on http://{host}:{port}/  (docs: /docs, health: /health/ready)",
              flush=True)
        try:
            uvicorn.run(
                "server.app:create_app", factory=True, host=host, port=port,
                workers=args.workers, log_level=s.log_level.lower(), access_log=False,
                ws_max_size=s.ws_max_frame_bytes, ws_ping_interval=s.ws_ping_interval,
                ws_ping_timeout=s.ws_ping_timeout,
                # the hub writes pre-framed uncompressed bytes: deflate would only cost memory
                ws_per_message_deflate=False,
                # the WebSocket upgrade parsed once (realtime/transport/upgrade.py)
                http=upgrade.HTTP, ws=upgrade.WS,
                timeout_graceful_shutdown=int(s.shutdown_grace) + 5, lifespan="on",
                proxy_headers=args.proxy_headers, log_config=None,
            )
        finally:
            if worker is not None:
                worker.stop(15)
            if media is not None:
                media.stop(10)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    with engines_for(settings) as s:
        return run_worker(s, burst=args.burst)


def cmd_media(settings: Settings, args: argparse.Namespace) -> int:
    with engines_for(settings) as s:
        asyncio.run(serve_media(s))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="readalong", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve HTTP and WebSocket")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--demo", action="store_true", help="load the demo catalog if empty")
    serve.add_argument("--demo-books", type=int, default=400)
    serve.add_argument("--with-worker", action="store_true", help="run the arq worker beside")
    serve.add_argument("--proxy-headers", action="store_true")
    serve.add_argument("--with-media", action="store_true",
                       help="run the media process (audio stages) beside")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="load the demo catalog")
    seed.add_argument("--books", type=int, default=400)
    seed.add_argument("--if-empty", action="store_true")
    seed.set_defaults(func=cmd_seed)

    admin = sub.add_parser("createadmin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--handle", required=True)
    admin.add_argument("--password", default=None)
    admin.set_defaults(func=cmd_createadmin)

    worker = sub.add_parser("worker", help="run the arq background worker")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(func=cmd_worker)
    media = sub.add_parser("media", help="run the media process of the audio stages")
    media.set_defaults(func=cmd_media)
    add_commands(sub, engines_for)  # backup, restore (server/cli_ops.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"readalong: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        return int(args.func(settings, args) or 0)
    except EngineError as exc:
        print(f"readalong: {exc}", file=sys.stderr)
        return 1
    except (MigrationFailed, asyncpg.RaiseError) as exc:  # e.g. an extension it lacks
        print(f"readalong: a migration failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
