"""AI jobs: book embeddings (sweep and bulk), neighbours, trending, catch-up summaries."""

from __future__ import annotations

from typing import Any

from arq.cron import cron

from domain.ai import vectors
from domain.ai.embed import embedder_for
from jobs.retry import task


@task
async def ai_embed_sweep(ctx: dict[str, Any]) -> int:
    """Embed the books created or edited since the last sweep (a no-op when nothing changed)."""
    return await vectors.embed_catalog(ctx["db"], ctx["redis"], embedder_for(ctx["settings"]))


@task
async def ai_embed_all(ctx: dict[str, Any], force: bool = False) -> int:
    """Embed the whole catalog (every stale book, or every book with `force`), with progress."""
    return await vectors.embed_catalog(ctx["db"], ctx["redis"], embedder_for(ctx["settings"]),
                                       force=force)


FUNCTIONS: list[Any] = [ai_embed_sweep, ai_embed_all]

CRON_JOBS: list[Any] = [
    cron(ai_embed_sweep, name="cron:ai_embed_sweep",  # type: ignore[arg-type]
         second={0, 10, 20, 30, 40, 50}, unique=True, run_at_startup=False),
]
