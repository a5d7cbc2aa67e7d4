"""REST for AI features: more like this, recommendations, experiments, embeddings admin."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.ai import experiments, moderation, recommend, trending, vectors
from domain.ai import search as ai_search
from domain.ai.embed import embedder_for
from domain.catalog.schemas import BookSummary
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.ids import Id
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


class Recommendations(msgspec.Struct):
    items: list[recommend.Recommendation]
    experiment: str | None = None
    variant: str | None = None


class Click(msgspec.Struct, forbid_unknown_fields=True):
    book_id: Id
    experiment: str = "for-me"


class RecommendationsController(Controller):
    path = "/api/v1/recommendations"
    tags = ("ai",)

    @get("/me", summary="Books for me, each with a reason and a confidence")
    async def for_me(self, db: Database, redis: Redis, settings: Settings, user: Principal,
                     limit: Annotated[int, Parameter(ge=1, le=50)] = 20) -> Recommendations:
        variant = experiments.assign("for-me", user.user_id)
        items = await recommend.for_me(db, redis, embedder_for(settings), user.user_id, limit,
                                       variant)
        await experiments.log(db, "for-me", variant, user.user_id,
                              [i.book_id for i in items], "exposure")
        return Recommendations(items=items, experiment="for-me", variant=variant)

    @get("/similar/{book_id:int}", summary="Books similar to this one (content and readers)")
    async def similar(self, db: Database, redis: Redis, settings: Settings, book_id: int,
                      limit: Annotated[int, Parameter(ge=1, le=50)] = 10) -> Recommendations:
        await ai_search.more_like_this(db, embedder_for(settings), book_id, 1)  # 404, embeds
        return Recommendations(items=await recommend.similar_cached(
            db, redis, embedder_for(settings), book_id, limit))

    @get("/trending", summary="Trending books (time-decayed activity)")
    async def trending(self, db: Database, redis: Redis,
                       window: Literal["day", "week"] = "week",
                       limit: Annotated[int, Parameter(ge=1, le=50)] = 20) -> BookList:
        hot = await trending.trending(redis, window, limit)
        async with db.pool.acquire() as conn:
            return BookList(items=await ai_search.summaries(conn, hot))

    @post("/clicks", summary="Log that I opened a recommended book", status_code=204)
    async def click(self, db: Database, user: Principal, data: Click) -> None:
        if data.experiment not in experiments.EXPERIMENTS:
            raise Invalid("unknown experiment", code="unknown_experiment", field="experiment")
        await experiments.log(db, data.experiment, experiments.assign(data.experiment,
                              user.user_id), user.user_id, [data.book_id], "click")


class ExperimentsAdminController(Controller):
    path = "/api/v1/admin/experiments"
    tags = ("ai",)

    @get("/{key:str}", summary="Per-variant exposures, clicks and click rate (admins)")
    async def summary(self, db: Database, user: Principal,
                      key: str) -> list[experiments.VariantSummary]:
        require_admin(user)
        if key not in experiments.EXPERIMENTS:
            raise NotFound("no such experiment", code="experiment_not_found")
        return await experiments.summary(db, key)


class AIFlagsController(Controller):
    path = "/api/v1/moderation/ai-flags"
    tags = ("ai",)

    @get("/", summary="Content the heuristic scorer flagged for review (moderators)")
    async def flags(self, db: Database, user: Principal,
                    before: Annotated[int | None, Parameter(ge=1)] = None,
                    limit: Annotated[int, Parameter(ge=1, le=100)] = 50
                    ) -> list[moderation.Flag]:
        if not user.is_moderator:
            raise Forbidden("moderators only", code="not_moderator")
        return await moderation.flags(db, limit, before)


CONTROLLERS += [RecommendationsController, ExperimentsAdminController, AIFlagsController]
