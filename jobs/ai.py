"""AI jobs: book embeddings (sweep and bulk), neighbours, trending, catch-up summaries."""

from __future__ import annotations

from typing import Any

import msgspec
from arq.cron import cron

from domain.accounts.tokens import Principal
from domain.ai import catchup, moderation, neighbours, trending, vectors
from domain.ai.embed import EmbeddingUnavailable, embedder_for
from jobs.retry import TransientError, task
from realtime.rooms.base import RoomEvent


async def _embed(ctx: dict[str, Any], force: bool) -> int:
    # a hosted endpoint that fails is retried with backoff (the books stay stale meanwhile)
    try:
        return await vectors.embed_catalog(ctx["db"], ctx["redis"],
                                           embedder_for(ctx["settings"]), force=force)
    except EmbeddingUnavailable as exc:
        raise TransientError(str(exc)) from exc


@task
async def ai_embed_sweep(ctx: dict[str, Any]) -> int:
    """Embed the books created or edited since the last sweep (a no-op when nothing changed)."""
    return await _embed(ctx, False)


@task
async def ai_embed_all(ctx: dict[str, Any], force: bool = False) -> int:
    """Embed the whole catalog (every stale book, or every book with `force`), with progress."""
    return await _embed(ctx, force)


@task
async def ai_neighbours(ctx: dict[str, Any]) -> int:
    """Recompute every book's item-item neighbours (collaborative filtering): the full pass."""
    return await neighbours.rebuild_neighbours(ctx["db"])


@task
async def ai_neighbours_update(ctx: dict[str, Any]) -> int:
    """Recompute the neighbours of the books the reading-state changes since can move."""
    return await neighbours.update_neighbours(ctx["db"])


@task
async def ai_trending(ctx: dict[str, Any]) -> int:
    """Rebuild the trending sorted sets (day, week) from PostgreSQL."""
    return await trending.rebuild_trending(ctx["db"], ctx["redis"])


@task
async def ai_catchup(ctx: dict[str, Any], user_id: int, role: str, place_id: int,
                     since_id: int, kind: str = "session") -> int:
    """Summarise what a reader missed in a place (a session, a club's chat or a section's
    thread) and push it on `user:<id>`."""
    settings = ctx["settings"]
    chat = (settings.ai_chat_url, settings.ai_chat_key, settings.ai_chat_model,
            settings.ai_chat_timeout) if settings.ai_chat_url else None
    viewer = Principal(user_id=user_id, role=role, jti="worker", exp=0)
    result = await catchup.build(ctx["db"], ctx["redis"], embedder_for(settings),
                                 catchup.VENUES[kind], viewer, place_id, since_id, chat)
    await ctx["publisher"].publish(f"user:{user_id}", RoomEvent(
        "catchup_ready", {"catchup": msgspec.to_builtins(result)}, target_user_ids=[user_id]))
    return result.messages


@task
async def ai_moderation(ctx: dict[str, Any]) -> int:
    """Score new chat messages and reviews; flag likely spam/abuse for moderators (no deletes)."""
    return await moderation.sweep(ctx["db"], ctx["redis"])


FUNCTIONS: list[Any] = [ai_embed_sweep, ai_embed_all, ai_neighbours, ai_neighbours_update,
                        ai_trending, ai_catchup, ai_moderation]

CRON_JOBS: list[Any] = [
    cron(ai_embed_sweep, name="cron:ai_embed_sweep",  # type: ignore[arg-type]
         second={5, 35}, unique=True, run_at_startup=False),
    cron(ai_neighbours, name="cron:ai_neighbours", hour=3, minute=23,  # type: ignore[arg-type]
         second=0, unique=True),
    cron(ai_neighbours_update, name="cron:ai_neighbours_update",  # type: ignore[arg-type]
         second=15, unique=True),
    cron(ai_trending, name="cron:ai_trending", minute=set(range(0, 60, 5)),  # type: ignore[arg-type]
         second=40, unique=True),
    cron(ai_moderation, name="cron:ai_moderation", second=50,  # type: ignore[arg-type]
         unique=True),
]
