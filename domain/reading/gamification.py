"""XP, levels and badges from reading events.

XP is earned in the transaction of the event that earns it, into one row per (reader, UTC day,
kind) capped per day against farming: pages read 1 XP a page (300 a day), finishing a book 50
(150 a day), a new review 20 (60 a day), a co-reading minute 1 (120 a day), club
participation 10 for each move forward read with a club (its room or "I've read up to here":
progress source `club`; 30 a day, on top of the pages XP). Level L needs
100·(L−1)² XP in total (level 2 at 100, 3 at 400, 4 at 900…). Badges come from a catalog
(name, description, rarity, a threshold over a counter, optionally within a time frame of
days); `award` grants every badge a reader now qualifies for — one INSERT … ON CONFLICT DO
NOTHING per badge, so racing workers grant it once and only the winner notifies (`badge_awarded`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.notifications.service import notify
from domain.reading.clock import local_day, stored_zone, time_zone_of, utcnow
from domain.reading.stats import BUCKET_SECONDS, reading_days, runs

XpKind = Literal["pages", "finish", "review", "coreading", "club"]
XP_RULES: dict[str, tuple[int, int]] = {"pages": (1, 300), "finish": (50, 150),
                                        "review": (20, 60), "coreading": (1, 120),
                                        "club": (10, 30)}  # kind: (per unit, daily cap)
Counter = Literal["books_finished", "pages_read", "reviews_written", "streak_days"]


class Badge(msgspec.Struct, frozen=True):
    key: str
    name: str
    description: str
    rarity: Literal["common", "uncommon", "rare", "epic"]
    counter: Counter
    threshold: int
    window_days: int | None = None  # the counter over the last N days only


CATALOG: tuple[Badge, ...] = (
    Badge("first-finish", "First finish", "Finish a book", "common", "books_finished", 1),
    Badge("bookworm", "Bookworm", "Finish 10 books", "rare", "books_finished", 10),
    Badge("page-turner", "Page turner", "Read 1,000 pages", "uncommon", "pages_read", 1000),
    Badge("marathon", "Marathon", "Read 500 pages within 7 days", "rare", "pages_read", 500, 7),
    Badge("critic", "Critic", "Write 5 reviews", "uncommon", "reviews_written", 5),
    Badge("week-streak", "Seven days", "Read 7 days in a row", "uncommon", "streak_days", 7),
)


class XpOut(msgspec.Struct, frozen=True):
    xp: int
    level: int
    level_xp: int        # total XP where this level starts
    next_level_xp: int   # total XP where the next one starts
    today: dict[str, int]


class BadgeOut(msgspec.Struct, frozen=True):
    key: str
    name: str
    description: str
    rarity: str
    awarded_at: datetime | None
    holders_share: float  # share of readers holding it (0-1)


def level_of(xp: int) -> int:
    return math.isqrt(max(0, xp) // 100) + 1


def level_start(level: int) -> int:
    return 100 * (level - 1) ** 2


async def earn(conn: Any, user_id: int, kind: XpKind, units: int, at: datetime) -> int:
    """Credit XP for `units` of `kind` on the UTC day of `at`, within the daily cap; returns the
    XP actually added. In the caller's transaction."""
    per, cap = XP_RULES[kind]
    if units <= 0:
        return 0
    day = at.astimezone(UTC).date()
    before = await conn.fetchval(
        "INSERT INTO xp_ledger (user_id, day, kind, amount) VALUES ($1, $2, $3, 0)"
        " ON CONFLICT (user_id, day, kind) DO UPDATE SET amount = xp_ledger.amount"
        " RETURNING amount", user_id, day, kind)
    added = max(0, min(units * per, cap - int(before)))
    if added:
        await conn.execute("UPDATE xp_ledger SET amount = amount + $4 WHERE user_id = $1"
                           " AND day = $2 AND kind = $3", user_id, day, kind, added)
    return added


_EARN_MANY_SQL = """
INSERT INTO xp_ledger (user_id, day, kind, amount)
SELECT u, $2, $3, 0 FROM unnest($1::bigint[]) AS u ORDER BY u
ON CONFLICT (user_id, day, kind) DO UPDATE SET amount = xp_ledger.amount
RETURNING user_id, amount
"""


async def earn_many(conn: Any, kind: XpKind, units: list[tuple[int, int]], at: datetime,
                    ) -> None:
    """`earn` for many (reader, units) at once (two statements; a reader twice gets the sum,
    which is what two `earn` calls in a row add within the cap)."""
    per, cap = XP_RULES[kind]
    total: dict[int, int] = {}
    for user_id, n in units:
        if n > 0:
            total[user_id] = total.get(user_id, 0) + n
    if not total:
        return
    day = at.astimezone(UTC).date()
    rows = await conn.fetch(_EARN_MANY_SQL, sorted(total), day, kind)
    added = [(int(r["user_id"]), max(0, min(total[int(r["user_id"])] * per,
                                           cap - int(r["amount"])))) for r in rows]
    added = [a for a in added if a[1] > 0]
    if added:
        await conn.execute(
            "UPDATE xp_ledger x SET amount = x.amount + m.n FROM unnest($1::bigint[],"
            " $2::int[]) AS m(u, n) WHERE x.user_id = m.u AND x.day = $3 AND x.kind = $4",
            [a[0] for a in added], [a[1] for a in added], day, kind)


async def xp_of(db: Database, user_id: int, *, now: datetime | None = None) -> XpOut:
    total = int(await db.pool.fetchval("SELECT COALESCE(sum(amount), 0) FROM xp_ledger"
                                       " WHERE user_id = $1", user_id))
    today = (now or utcnow()).date()
    rows = await db.pool.fetch("SELECT kind, amount FROM xp_ledger WHERE user_id = $1"
                               " AND day = $2", user_id, today)
    level = level_of(total)
    return XpOut(xp=total, level=level, level_xp=level_start(level),
                 next_level_xp=level_start(level + 1),
                 today={k: next((int(r["amount"]) for r in rows if r["kind"] == k), 0)
                        for k in XP_RULES})


async def counter(conn: Any, user_id: int, name: Counter, window_days: int | None,
                  now: datetime) -> int:
    since = now - timedelta(days=window_days) if window_days else datetime.min.replace(
        tzinfo=now.tzinfo)
    if name == "books_finished":
        return int(await conn.fetchval(
            "SELECT count(*) FROM reading_reads r JOIN reading_states s ON s.id = r.state_id"
            " WHERE s.user_id = $1 AND r.outcome = 'read' AND ($2::date IS NULL OR"
            " r.finished_on >= $2::date)", user_id, since.date() if window_days else None))
    if name == "pages_read":
        return int(await conn.fetchval("SELECT COALESCE(sum(pages), 0) FROM reading_log"
                                       " WHERE user_id = $1 AND created_at >= $2",
                                       user_id, since))
    if name == "reviews_written":
        return int(await conn.fetchval("SELECT count(*) FROM reviews WHERE user_id = $1"
                                       " AND created_at >= $2", user_id, since))
    tz = await time_zone_of(conn, user_id)
    return runs(await reading_days(conn, user_id, tz), now.astimezone(tz).date())[1]


# The set-based counters of many readers at once (`award_many`): one column per counter and
# window of the catalog; $1 the readers, $2 the 7-day (or other window) start per window below.
_SET_COUNTERS: dict[str, str] = {
    "books_finished": "(SELECT count(*) FROM reading_reads r JOIN reading_states s"
                      " ON s.id = r.state_id WHERE s.user_id = u.id AND r.outcome = 'read'"
                      " AND ({since}::timestamptz IS NULL OR r.finished_on >= {since}::date))",
    "pages_read": "(SELECT COALESCE(sum(pages), 0) FROM reading_log WHERE user_id = u.id"
                  " AND ({since}::timestamptz IS NULL OR created_at >= {since}))",
    "reviews_written": "(SELECT count(*) FROM reviews WHERE user_id = u.id"
                       " AND ({since}::timestamptz IS NULL OR created_at >= {since}))",
}


# Many readers' streak inputs in one query: their zone and their 15-minute reading buckets
# (what `stats.reading_days` reads for one reader, private reads included).
_STREAKS_SQL = f"""
SELECT u.id, (SELECT time_zone FROM reading_prefs p WHERE p.user_id = u.id) AS tz,
       ARRAY(SELECT DISTINCT to_timestamp(floor(extract(epoch FROM l.created_at)
                                               / {BUCKET_SECONDS}) * {BUCKET_SECONDS})
             FROM reading_log l WHERE l.user_id = u.id AND l.gain > 0) AS buckets
FROM unnest($1::bigint[]) AS u(id)
"""


async def _streaks(db: Database, user_ids: list[int], at: datetime) -> dict[int, int]:
    """The longest streak (days) of each of `user_ids`, as `counter(..., "streak_days")`."""
    if not user_ids:
        return {}
    out = {}
    for r in await db.pool.fetch(_STREAKS_SQL, user_ids):
        tz = stored_zone(r["tz"])
        days = sorted({local_day(b, tz) for b in r["buckets"]})
        out[int(r["id"])] = runs(days, at.astimezone(tz).date())[1]
    return out


def _column(badge: Badge) -> str:
    return f"{badge.counter}_{badge.window_days or 0}"


async def _counters(db: Database, user_ids: list[int], at: datetime
                    ) -> dict[int, tuple[set[str], dict[str, int]]]:
    """Per reader: the badges held, and every set-based counter of the catalog (one query)."""
    windows = sorted({b.window_days or 0 for b in CATALOG if b.counter in _SET_COUNTERS})
    params: list[Any] = [user_ids]
    place = {}
    for w in windows:
        params.append(at - timedelta(days=w) if w else None)
        place[w] = f"${len(params)}"
    cols = {_column(b): _SET_COUNTERS[b.counter].format(since=place[b.window_days or 0])
            for b in CATALOG if b.counter in _SET_COUNTERS}
    rows = await db.pool.fetch(
        "SELECT u.id, ARRAY(SELECT badge FROM user_badges WHERE user_id = u.id) AS held, "
        + ", ".join(f"{sql} AS {name}" for name, sql in cols.items())
        + " FROM unnest($1::bigint[]) AS u(id)", *params)
    return {int(r["id"]): (set(r["held"]), {c: int(r[c]) for c in cols}) for r in rows}


async def award(db: Database, redis: Redis | None, user_id: int, *,
                now: datetime | None = None) -> list[str]:
    """Grant every badge the reader now qualifies for (never twice); returns the new ones."""
    return (await award_many(db, redis, [user_id], now=now)).get(user_id, [])


async def award_many(db: Database, redis: Redis | None, user_ids: list[int], *,
                     now: datetime | None = None) -> dict[int, list[str]]:
    """`award` for many readers: their counters in one query, their streaks in another (only
    for those still missing a streak badge); the badges each one won."""
    at = now or utcnow()
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    counted = await _counters(db, ids, at)
    streak_keys = {b.key for b in CATALOG if b.counter == "streak_days"}
    streaks = await _streaks(db, [u for u in ids if not streak_keys <= counted.get(
        u, (set(), {}))[0]], at)
    out: dict[int, list[str]] = {}
    for user_id in ids:
        held, values = counted.get(user_id, (set(), {}))
        for badge in CATALOG:
            if badge.key in held:
                continue
            value = values.get(_column(badge))
            if value is None and badge.counter == "streak_days" and not badge.window_days:
                value = streaks.get(user_id, 0)
            if value is None:  # no set-based form: the reader's own query
                value = await counter(db.pool, user_id, badge.counter, badge.window_days, at)
            if value < badge.threshold:
                continue
            won = await db.pool.fetchval("INSERT INTO user_badges (user_id, badge, awarded_at)"
                                         " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
                                         " RETURNING 1", user_id, badge.key, at)
            if won:
                out.setdefault(user_id, []).append(badge.key)
                await notify(db, redis, recipient_id=user_id, type="badge_awarded",
                             target_kind="badge", target_id=badge.key,
                             payload={"badge": badge.name, "rarity": badge.rarity})
    return out


async def badges_of(db: Database, user_id: int | None) -> list[BadgeOut]:
    """The catalog with the share of readers holding each; `awarded_at` for `user_id`'s."""
    readers = max(1, int(await db.pool.fetchval("SELECT count(*) FROM users")))
    counts = {r["badge"]: int(r["n"]) for r in await db.pool.fetch(
        "SELECT badge, count(*) AS n FROM user_badges GROUP BY badge")}
    mine = {r["badge"]: r["awarded_at"] for r in await db.pool.fetch(
        "SELECT badge, awarded_at FROM user_badges WHERE user_id = $1", user_id)} \
        if user_id is not None else {}
    return [BadgeOut(key=b.key, name=b.name, description=b.description, rarity=b.rarity,
                     awarded_at=mine.get(b.key),
                     holders_share=round(counts.get(b.key, 0) / readers, 4)) for b in CATALOG]
