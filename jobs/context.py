"""Worker start-up and shut-down: the Postgres pool, the hub publisher and settings in `ctx`."""

from __future__ import annotations

from typing import Any

from domain.db import Database
from domain.notifications.webpush import load_vapid_key
from domain.settings import Settings
from realtime.publisher import Publisher


def make_hooks(settings: Settings) -> tuple[Any, Any]:
    """(on_startup, on_shutdown) for an arq Worker bound to `settings`."""

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url
        db = Database(settings.database_url, pool_size=max(2, min(settings.db_pool_size, 8)))
        await db.connect()
        ctx["settings"] = settings
        ctx["db"] = db
        ctx["publisher"] = Publisher(ctx["redis"], settings)
        ctx["vapid_key"] = load_vapid_key(settings)

    async def shutdown(ctx: dict[str, Any]) -> None:
        db = ctx.pop("db", None)
        if db is not None:
            await db.close()

    return startup, shutdown
