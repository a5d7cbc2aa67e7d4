"""Worker start-up and shut-down: the Postgres pool, the hub publisher and settings in `ctx`."""

from __future__ import annotations

from typing import Any

from domain.db import Database
from domain.notifications.webpush import load_vapid_key
from domain.redisconn import connect, is_cluster, is_cluster_url
from domain.settings import Settings
from realtime.publisher import Publisher


def make_hooks(settings: Settings) -> tuple[Any, Any]:
    """(on_startup, on_shutdown) for an arq Worker bound to `settings`."""

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url
        settings.apply_gc_threshold()
        db = Database(settings.database_url, pool_size=max(2, min(settings.db_pool_size, 8)))
        await db.connect()
        ctx["settings"] = settings
        ctx["db"] = db
        if is_cluster_url(settings.redis_url):  # arq's pool is the queue instance only: the
            assert settings.redis_url  # jobs' data and rooms live on the cluster
            data = connect(settings.redis_url, decode_responses=False, socket_connect_timeout=2,
                           socket_timeout=5)
            data.queue = ctx["redis"]  # type: ignore[attr-defined]
            ctx["redis"] = data
        ctx["publisher"] = Publisher(ctx["redis"], settings)
        ctx["vapid_key"] = load_vapid_key(settings)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if is_cluster(ctx.get("redis")):
            await ctx["redis"].aclose()
        db = ctx.pop("db", None)
        if db is not None:
            await db.close()

    return startup, shutdown
