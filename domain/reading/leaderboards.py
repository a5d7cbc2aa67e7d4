"""Leaderboard records: canonical in PostgreSQL (written in the transaction of the reading-log
change that earned them), derived into Redis sorted sets after the commit, rebuilt from
PostgreSQL when the Redis keys are lost. Scores come only from server-side reading events
(pages gained in the log, books finished), capped by `boards.PAGES_PER_HOUR`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.keys import LEADERBOARD
from domain.reading import boards
from domain.reading.boards import BOARDS, PAGES_PER_HOUR, Board
from domain.reading.review_schemas import Card
from domain.social.rules import Relation, profile_visible

RETENTION = 40 * 86400  # a finished period stays in Redis this long (Postgres keeps it)


class Score(msgspec.Struct, frozen=True):
    board: str
    period: int
    owner_id: int
    score: int
    subscore: int


class Entry(msgspec.Struct, frozen=True):
    rank: int
    owner: Card | None   # None: a reader whose profile this viewer may not see
    score: int


class BoardPage(msgspec.Struct, frozen=True):
    board: str
    period: int
    items: list[Entry]
    next_cursor: str | None = None


class BoardInfo(msgspec.Struct, frozen=True):
    key: str
    title: str
    operator: str
    reset: str
    sort: str
    period: int
    previous_period: int | None
    scope: str = "global"  # "club": read it as `<key>:<club id>`


def board_of(key: str) -> Board:
    board = BOARDS.get(key)
    if board is None or not board.public:
        raise NotFound("no such leaderboard", code="leaderboard_not_found")
    return board


def bucket_of(key: str) -> tuple[Board, str, int | None]:
    """(definition, record key, club id) of a board as clients name it: `pages-week`, or a
    club-scoped board with its club, `club-pages-month:42`."""
    name, club_id = boards.split_key(key)
    board = board_of(name)
    if board.scope == "club" and club_id is None:
        raise Invalid(f"a club board is read per club: {board.key}:<club id>",
                      code="club_board_needs_club", field="key")
    if board.scope != "club" and name != key:
        raise NotFound("no such leaderboard", code="leaderboard_not_found")
    return board, key, club_id


def zkey(board: str, period: int) -> str:
    return f"{LEADERBOARD}{board}:{period}"


_UPSERT_SQL = """
INSERT INTO leaderboard_records (board, period_end, owner_id, score, subscore, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (board, period_end, owner_id) DO UPDATE SET
  score = EXCLUDED.score, subscore = CASE WHEN EXCLUDED.score <> leaderboard_records.score
                                     THEN EXCLUDED.subscore ELSE leaderboard_records.subscore END,
  updated_at = EXCLUDED.updated_at
RETURNING score, subscore
"""


async def write(conn: Any, board: Board, owner_id: int, value: int, at: datetime, *,
                key: str | None = None) -> Score:
    """Apply one write with the board's operator, in the caller's transaction (`key`: the
    record key of a club-scoped board, `boards.scoped`)."""
    name = key or board.key
    period = boards.period_end(board.reset, at)
    old = await conn.fetchval("SELECT score FROM leaderboard_records WHERE board = $1 AND"
                              " period_end = $2 AND owner_id = $3 FOR UPDATE",
                              name, period, owner_id)
    new = boards.apply(board.operator, old, value)
    row = await conn.fetchrow(_UPSERT_SQL, name, period, owner_id, new,
                              boards.subscore(board.reset, at), at)
    return Score(name, period, owner_id, int(row["score"]), int(row["subscore"]))


# The clubs each reader scores for (domain/clubs' membership table, read here with our own SQL).
_CLUBS_SQL = """
SELECT u.id AS user_id, c.club_id FROM unnest($1::bigint[]) AS u(id),
LATERAL (SELECT club_id FROM club_members WHERE user_id = u.id ORDER BY club_id LIMIT 50) c
"""
# The records a batch may write, locked in the order given (owner by owner, `credit`'s order).
_LOCK_SQL = """
SELECT k.ord, r.score, r.subscore
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[])
     AS k(board, period_end, owner_id, ord)
JOIN leaderboard_records r ON r.board = k.board AND r.period_end = k.period_end
     AND r.owner_id = k.owner_id
ORDER BY k.ord FOR UPDATE OF r
"""
_UPSERT_MANY_SQL = """
INSERT INTO leaderboard_records (board, period_end, owner_id, score, subscore, updated_at)
SELECT b, p, o, s, sub, $6
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
     AS m(b, p, o, s, sub)
ON CONFLICT (board, period_end, owner_id) DO UPDATE SET
  score = EXCLUDED.score, subscore = CASE WHEN EXCLUDED.score <> leaderboard_records.score
                                     THEN EXCLUDED.subscore ELSE leaderboard_records.subscore END,
  updated_at = EXCLUDED.updated_at
"""
Record = tuple[str, int, int]  # (record key, period end, owner id)


async def credit(conn: Any, owner_id: int, *, pages: int, books: int,
                 at: datetime) -> list[Score]:
    """Score a reading-log change on every board of its metric (pages capped per hour)."""
    return (await credit_many(conn, [(owner_id, pages, books)], at))[0]


def _targets(owner_id: int, pages: int, books: int, clubs: dict[int, list[int]],
             at: datetime) -> list[tuple[Board, Record, str]]:
    """The records one change may write, in `credit`'s order: (board, record, metric); the
    hourly plausibility bucket first ("hour": it caps the pages of the others)."""
    out = []
    if pages > 0:
        hour = BOARDS["pages-hour"]
        out.append((hour, (hour.key, boards.period_end(hour.reset, at), owner_id), "hour"))
    for board in BOARDS.values():
        if not board.public or {"pages": pages, "books": books}.get(board.metric, 0) <= 0:
            continue
        period = boards.period_end(board.reset, at)
        keys = [board.key] if board.scope != "club" else [
            boards.scoped(board, c) for c in clubs.get(owner_id, ())]
        out += [(board, (k, period, owner_id), board.metric) for k in keys]
    return out


async def credit_many(conn: Any, changes: list[tuple[int, int, int]],
                      at: datetime) -> list[list[Score]]:
    """`credit` for many reading-log changes (owner id, pages, books) in the caller's
    transaction, applied in order (an owner twice gets both): the records they may touch are
    locked in one statement (owner by owner, in `credit`'s order) and written in one. One list
    of scores per change."""
    owners = sorted({c[0] for c in changes if c[1] > 0 or c[2] > 0})
    if not owners:
        return [[] for _ in changes]
    clubs: dict[int, list[int]] = {}
    if any(c[1] > 0 for c in changes) and any(b.scope == "club" and b.public
                                              for b in BOARDS.values()):
        for r in await conn.fetch(_CLUBS_SQL, [c[0] for c in changes if c[1] > 0]):
            clubs.setdefault(int(r["user_id"]), []).append(int(r["club_id"]))
    plans = [_targets(*c, clubs, at) for c in changes]
    order: dict[Record, int] = {}
    for plan in sorted(plans, key=lambda p: p[0][1][2] if p else 0):
        for _, record, _ in plan:
            order.setdefault(record, len(order))
    keys = list(order)
    current: dict[Record, tuple[int, int] | None] = dict.fromkeys(keys)
    for r in await conn.fetch(_LOCK_SQL, [k[0] for k in keys], [k[1] for k in keys],
                              [k[2] for k in keys], list(range(len(keys)))):
        current[keys[int(r["ord"])]] = (int(r["score"]), int(r["subscore"]))
    out: list[list[Score]] = []
    dirty: set[Record] = set()
    for (_, pages, books), plan in zip(changes, plans, strict=True):
        scores: list[Score] = []
        for board, record, metric in plan:
            value = {"hour": pages, "pages": pages, "books": books}[metric]
            if value <= 0:  # (pages capped to 0 by the hour's cap)
                continue
            old = current[record]
            new = boards.apply(board.operator, old[0] if old else None, value)
            sub = boards.subscore(board.reset, at) if old is None or new != old[0] else old[1]
            current[record] = (new, sub)
            dirty.add(record)
            if metric == "hour":
                pages = max(0, min(pages, PAGES_PER_HOUR - (new - pages)))
            else:
                scores.append(Score(record[0], record[1], record[2], new, sub))
        out.append(scores)
    written = [(k, v) for k, v in current.items() if v is not None and k in dirty]
    if written:
        await conn.execute(_UPSERT_MANY_SQL, *[[w[0][i] for w in written] for i in range(3)],
                           [w[1][0] for w in written], [w[1][1] for w in written], at)
    return out


async def sync(redis: Redis, scores: list[Score]) -> None:
    """After the commit: put the records into Redis (ZADD GT, so a late or repeated sync of an
    older value never lowers a monotonic board)."""
    async with redis.pipeline(transaction=False) as pipe:
        for s in scores:
            key = zkey(s.board, s.period)
            gt = boards.definition(s.board).operator in ("incr", "best")
            pipe.zadd(key, {boards.member(s.owner_id): boards.packed(s.score, s.subscore)},
                      gt=gt)
            if s.period:
                pipe.expireat(key, s.period + RETENTION)
        await pipe.execute()


async def rebuild(db: Database, redis: Redis, board: str, period: int) -> int:
    """Load a bucket from PostgreSQL into Redis (idempotent); returns the records loaded."""
    rows = await db.pool.fetch("SELECT owner_id, score, subscore FROM leaderboard_records"
                               " WHERE board = $1 AND period_end = $2", board, period)
    key = zkey(board, period)
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(0, len(rows), 1000):
            pipe.zadd(key, {boards.member(r["owner_id"]): boards.packed(r["score"], r["subscore"])
                            for r in rows[i:i + 1000]}, gt=True)
        pipe.set(key + ":built", 1)
        if period:
            pipe.expireat(key, period + RETENTION)
            pipe.expireat(key + ":built", period + RETENTION)
        await pipe.execute()
    return len(rows)


async def ensure(db: Database, redis: Redis, board: str, period: int) -> str:
    """The bucket's key, rebuilt first when Redis lost it (its marker is gone)."""
    key = zkey(board, period)
    if not await redis.exists(key + ":built"):
        await rebuild(db, redis, board, period)
    return key


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not one this server handed out", code="invalid_cursor",
                      field="cursor") from exc
    if not 0 <= value <= 10**9:
        raise Invalid("cursor out of range", code="invalid_cursor", field="cursor")
    return value


_CARDS_SQL = """
SELECT u.id, u.handle, u.display_name, u.visibility,
       EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = u.id
               AND f.status = 'accepted') AS following,
       EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $2 AND b.blocked_id = u.id)
               OR (b.blocker_id = u.id AND b.blocked_id = $2)) AS blocked
FROM users u WHERE u.id = ANY($1::bigint[])
"""


async def _entries(db: Database, pairs: list[tuple[int, int, int]],
                   viewer_id: int | None) -> list[Entry]:
    """(rank, owner, score) → entries; an owner whose profile the viewer may not see (private,
    followers-only and not followed, blocked either way) keeps their rank but no card."""
    rows = await db.pool.fetch(_CARDS_SQL, [p[1] for p in pairs], viewer_id)
    users = {int(r["id"]): r for r in rows}
    out = []
    for rank, owner_id, score in pairs:
        u = users.get(owner_id)
        visible = u is not None and profile_visible(
            u["visibility"], Relation(is_self=owner_id == viewer_id,
                                      following=bool(u["following"]),
                                      blocking=bool(u["blocked"])), viewer_role=None)
        card = Card(id=owner_id, handle=u["handle"], display_name=u["display_name"]) \
            if visible and u is not None else None
        out.append(Entry(rank=rank, owner=card, score=score))
    return out


async def top(db: Database, redis: Redis, board: str, period: int, *, cursor: str | None,
              limit: int, viewer_id: int | None = None) -> BoardPage:
    start = _offset(cursor)
    key = await ensure(db, redis, board, period)
    got = await redis.zrevrange(key, start, start + limit, withscores=True)
    pairs = [(start + i + 1, boards.owner(m), boards.unpack(s)[0])
             for i, (m, s) in enumerate(got[:limit])]
    more = len(got) > limit
    nxt = base64.urlsafe_b64encode(str(start + limit).encode()).decode().rstrip("=") \
        if more else None
    return BoardPage(board=board, period=period, items=await _entries(db, pairs, viewer_id),
                     next_cursor=nxt)


async def around(db: Database, redis: Redis, board: str, period: int, owner_id: int, *,
                 limit: int) -> BoardPage:
    """The owner's rank with neighbours (about half above, the rest below); empty if unranked."""
    key = await ensure(db, redis, board, period)
    rank = await redis.zrevrank(key, boards.member(owner_id))
    if rank is None:
        return BoardPage(board=board, period=period, items=[])
    start = max(0, rank - limit // 2)
    got = await redis.zrevrange(key, start, start + limit - 1, withscores=True)
    pairs = [(start + i + 1, boards.owner(m), boards.unpack(s)[0]) for i, (m, s) in enumerate(got)]
    return BoardPage(board=board, period=period, items=await _entries(db, pairs, owner_id))


async def owners(db: Database, redis: Redis, board: str, period: int,
                 owner_ids: list[int], viewer_id: int | None = None) -> BoardPage:
    """These owners' records (e.g. me and whom I follow), ranked on the whole board; owners
    the viewer may not see are left out (asking by id must not reveal a hidden score)."""
    key = await ensure(db, redis, board, period)
    ids = list(dict.fromkeys(owner_ids))[:500]
    scores = await redis.zmscore(key, [boards.member(i) for i in ids]) if ids else []
    async with redis.pipeline(transaction=False) as pipe:
        present = [(i, s) for i, s in zip(ids, scores, strict=True) if s is not None]
        for i, _ in present:
            pipe.zrevrank(key, boards.member(i))
        ranks = await pipe.execute() if present else []
    pairs = sorted((int(r) + 1, i, boards.unpack(s)[0])
                   for (i, s), r in zip(present, ranks, strict=True))
    entries = [e for e in await _entries(db, pairs, viewer_id) if e.owner is not None]
    return BoardPage(board=board, period=period, items=entries)


def info(board: Board, at: datetime) -> BoardInfo:
    return BoardInfo(key=board.key, title=board.title, operator=board.operator,
                     reset=board.reset, sort=board.sort,
                     period=boards.period_end(board.reset, at),
                     previous_period=boards.previous_period_end(board.reset, at),
                     scope=board.scope)


async def following_ids(db: Database, user_id: int) -> list[int]:
    """Whom `user_id` follows (accepted) — the "friends" scope of a board."""
    rows = await db.pool.fetch("SELECT followee_id FROM follows WHERE follower_id = $1"
                               " AND status = 'accepted' LIMIT 499", user_id)
    return [int(r["followee_id"]) for r in rows]
