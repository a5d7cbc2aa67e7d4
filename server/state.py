"""The services one app instance owns, started and stopped with its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar.types import ASGIApp
from redis.asyncio import Redis

from domain.ai.trending import ViewTally
from domain.db import Database
from domain.migrate import migrate
from domain.redisconn import close, connect
from domain.settings import Settings
from realtime.hub import Hub
from realtime.publisher import Publisher
from realtime.rooms.leaderboard import LeaderboardPusher
from realtime.rooms.session import SessionRoom
from server.engines import EmbeddedEngines

log = logging.getLogger("readalong.app")

#: A lifespan hook a plugin registers: called with the app and these services.
Hook = Callable[[Any, "Services"], Awaitable[None]]


@dataclass
class Services:
    """Held on `app.state.services`; controllers receive its parts through dependency injection.

    Each part a plugin adds is a named, typed field (no string-keyed bag): `hub` exists as soon
    as the app is built (register room kinds on it), `publisher`, `session_rooms` and
    `session_control` once the app has started, `leaderboard_pusher` on first use.
    """

    settings: Settings
    db: Database | None = None
    redis: Redis | None = None
    engines: EmbeddedEngines | None = None
    hub: Hub | None = None
    publisher: Publisher | None = None
    session_rooms: SessionRoom | None = None
    session_control: asyncio.Task[None] | None = None
    leaderboard_pusher: LeaderboardPusher | None = None  # made on first use (reading)
    views: ViewTally | None = None  # book page views, written to Redis once a second
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    asgi_wrappers: list[Callable[[ASGIApp], ASGIApp]] = field(default_factory=list)

    async def start(self) -> None:
        settings = self.settings
        if settings.embedded:
            # Only reached when the app is served directly (plain uvicorn) without URLs; the
            # `readalong serve` command and the tests start the engines before the app.
            self.engines = EmbeddedEngines(settings.data_path)
            db_url, redis_url = self.engines.start()
            settings = self.settings = settings.with_engines(db_url, redis_url)
            await migrate(db_url)
        assert settings.database_url and settings.redis_url
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        await self.db.connect()
        self.redis = connect(settings.redis_url, queue_url=settings.queue_url,
                             decode_responses=False, health_check_interval=10,
                             socket_connect_timeout=2, socket_timeout=5, retry_on_timeout=True)
        self.views = ViewTally(self.redis)

    async def stop(self) -> None:
        if self.views is not None:
            await self.views.close()
        if self.redis is not None:
            await close(self.redis)
        if self.db is not None:
            await self.db.close()
        if self.engines is not None:
            self.engines.stop()
