"""REST for AI features: more like this, recommendations, experiments, embeddings admin."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.ai import search as ai_search
from domain.ai import vectors
from domain.ai.embed import embedder_for
from domain.catalog.schemas import BookSummary
from domain.db import Database
from domain.errors import Forbidden
from domain.jobqueue import enqueue
from domain.settings import Settings


class BookList(msgspec.Struct):
    items: list[BookSummary]


def require_admin(user: Principal) -> None:
    if not user.is_admin:
        raise Forbidden("admins only", code="not_admin")


class MoreLikeThisController(Controller):
    path = "/api/v1/books"
    tags = ("ai",)

    @get("/{book_id:int}/more-like-this", summary="Books closest to this one by content")
    async def more_like_this(self, db: Database, settings: Settings, book_id: int,
                             limit: Annotated[int, Parameter(ge=1, le=50)] = 10) -> BookList:
        return BookList(items=await ai_search.more_like_this(
            db, embedder_for(settings), book_id, limit))


class EmbeddingsAdminController(Controller):
    path = "/api/v1/admin/ai/embeddings"
    tags = ("ai",)

    @get("/", summary="Progress of the last (or running) embedding sweep (admins)")
    async def progress(self, redis: Redis, user: Principal) -> vectors.Progress:
        require_admin(user)
        return await vectors.progress(redis)

    @post("/", summary="Embed the whole catalog again in the background (admins)",
          status_code=202)
    async def rebuild(self, redis: Redis, user: Principal,
                      force: bool = False) -> dict[str, Any]:
        require_admin(user)
        queued = await enqueue(redis, "ai_embed_all", force, job_id=f"ai_embed_all:{int(force)}")
        return {"queued": queued}


CONTROLLERS: list[Any] = [MoreLikeThisController, EmbeddingsAdminController]
