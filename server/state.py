"""The services one app instance owns, started and stopped with its lifespan."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from domain.db import Database
from domain.settings import Settings
from server.engines import EmbeddedEngines

log = logging.getLogger("readalong.app")


@dataclass
class Services:
    """Held on `app.state.services`; controllers receive its parts through dependency injection."""

    settings: Settings
    db: Database | None = None
    redis: Redis | None = None
    engines: EmbeddedEngines | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> None:
        settings = self.settings
        if settings.embedded:
            # Only reached when the app is served directly (plain uvicorn) without URLs; the
            # `readalong serve` command and the tests start the engines before the app.
            self.engines = EmbeddedEngines(settings.data_path)
            db_url, redis_url = self.engines.start()
            settings = self.settings = settings.with_engines(db_url, redis_url)
            from domain.migrate import migrate

            await migrate(db_url)
        assert settings.database_url and settings.redis_url
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        await self.db.connect()
        self.redis = Redis.from_url(settings.redis_url, decode_responses=False,
                                    health_check_interval=10, socket_connect_timeout=2,
                                    socket_timeout=5, retry_on_timeout=True)

    async def stop(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        if self.db is not None:
            await self.db.close()
        if self.engines is not None:
            self.engines.stop()
