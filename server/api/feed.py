"""REST controller of the home feed: GET /api/v1/feed (cursor-paged)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.db import Database
from domain.feeds.service import FeedPage, home_feed
from domain.settings import Settings
from server.deps import Reader


class FeedController(Controller):
    path = "/api/v1/feed"
    tags = ["feed"]

    @get("", summary="Activities of the people the caller follows, newest first")
    async def feed(self, db: Database, redis: Redis, settings: Settings, reader: Reader,
                   cursor: str | None = None, limit: int = Parameter(default=20)) -> FeedPage:
        return await reader.answer(home_feed(db, redis, settings, reader.user_id, cursor=cursor,
                                             limit=limit))


CONTROLLERS = [FeedController]
