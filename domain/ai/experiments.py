"""A/B experiments on recommendations: stable assignment, exposure and click logs, a summary."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from domain.ai.recs import variant_of
from domain.db import Database

# experiment key -> its variants (the first is the control)
EXPERIMENTS: dict[str, tuple[str, ...]] = {"for-me": ("hybrid", "cf")}


class VariantSummary(msgspec.Struct):
    variant: str
    readers: int
    exposures: int
    clicks: int
    click_rate: float


def assign(experiment: str, user_id: int) -> str:
    """The reader's variant of `experiment` (the same in every process, forever)."""
    return variant_of(experiment, user_id, EXPERIMENTS[experiment])


async def log(db: Database, experiment: str, variant: str, user_id: int,
              book_ids: Sequence[int], kind: str) -> None:
    """Record exposures (the books shown) or a click; unknown books are skipped."""
    if not book_ids:
        return
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO rec_events (experiment, variant, user_id, book_id, kind) "
            "SELECT $1, $2, $3, b.id, $5 FROM books b WHERE b.id = ANY($4::bigint[])",
            experiment, variant, user_id, list(book_ids), kind)


async def summary(db: Database, experiment: str) -> list[VariantSummary]:
    """Per variant: readers exposed, exposures, clicks and clicks per exposure."""
    async with db.pool.acquire() as conn:
        rows = {r["variant"]: r for r in await conn.fetch("""
            SELECT variant, count(DISTINCT user_id) FILTER (WHERE kind = 'exposure') AS readers,
                   count(*) FILTER (WHERE kind = 'exposure') AS exposures,
                   count(*) FILTER (WHERE kind = 'click') AS clicks
            FROM rec_events WHERE experiment = $1 GROUP BY variant""", experiment)}
    out = []
    for variant in EXPERIMENTS.get(experiment, tuple(sorted(rows))):
        r = rows.get(variant)
        readers, exposures, clicks = (r["readers"], r["exposures"], r["clicks"]) if r else (0, 0, 0)
        out.append(VariantSummary(variant=variant, readers=readers, exposures=exposures,
                                  clicks=clicks,
                                  click_rate=round(clicks / exposures, 4) if exposures else 0.0))
    return out
