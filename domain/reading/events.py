"""What a reading-life change did, collected inside the transaction and acted on after the
commit (feed activities now; leaderboards and badges read the log later).

Use-cases append `ReadingEvent`s to a list the caller passes; the caller commits, then hands
the list to `after_commit`, so REST and any other entry point run the same side effects in the
same order. Activities of a book marked private are never posted; a review's activity carries
no review text (nothing to shield in feeds).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.feeds import verbs
from domain.feeds.service import record_activity
from domain.reading import badge_queue, leaderboards
from domain.reading.leaderboards import Score

log = logging.getLogger("readalong.reading")
Kind = Literal["started", "finished", "reviewed", "rated", "scored", "advanced"]
#: Injected by the server: tell live leaderboard rooms that these buckets changed.
Push = Callable[[list[Score]], Awaitable[None]]
#: Injected by the server: a reader's furthest progression in a book grew from `previous` to
#: `furthest` (user_id, book_id, previous, furthest): push the new progress and the content it
#: unlocks to every live room of that book the reader is in, on every node.
Unlock = Callable[[int, int, float, float], Awaitable[None]]
_VERBS = {"started": verbs.STARTED_BOOK, "finished": verbs.FINISHED_BOOK,
          "reviewed": verbs.REVIEWED_BOOK, "rated": verbs.RATED_BOOK}


class ReadingEvent(msgspec.Struct, frozen=True):
    kind: Kind
    user_id: int
    book_id: int
    rating: float | None = None
    review_id: int | None = None
    scores: list[Score] | None = None
    previous: float | None = None  # "advanced": the furthest progression before and after
    furthest: float | None = None


async def _scored(redis: Redis | None, scores: list[Score], push: Push | None) -> None:
    if redis is None:
        return
    try:
        await leaderboards.sync(redis, scores)
        if push is not None:
            await push(scores)
    except Exception:  # Redis is derived: the next write or a rebuild brings it back
        log.exception("leaderboard sync failed")


async def _advanced(event: ReadingEvent, unlock: Unlock | None) -> None:
    if unlock is None or event.previous is None or event.furthest is None:
        return
    try:
        await unlock(event.user_id, event.book_id, event.previous, event.furthest)
    except Exception:  # the move is durable; the reader's next subscribe reads it
        log.exception("unlock push of user %s in book %s failed", event.user_id, event.book_id)


async def after_scores(redis: Redis | None, events: list[ReadingEvent],
                       push: Push | None = None) -> None:
    """`after_commit` of many readers' `scored` events at once (a batch of passive moves):
    every reader marked due a badge check (one SADD), every record synced in one pipeline,
    one push."""
    if redis is None or not events:
        return
    await badge_queue.mark_many_due(redis, list(dict.fromkeys(e.user_id for e in events)))
    await _scored(redis, [s for e in events for s in e.scores or ()], push)


async def after_commit(db: Database, redis: Redis | None, events: list[ReadingEvent],
                       push: Push | None = None, unlock: Unlock | None = None) -> None:
    """Post the feed activities of committed changes and sync their leaderboard records into
    Redis, then push (best effort: the change is durable). `advanced` events go to `unlock`
    first (a reader waiting in a live room sees the content at once).

    THE call point for every source that moved a reading state (REST progress, sessions,
    clubs, e-reader sync): collect `ReadingEvent`s in the transaction (`progress.
    passive_events(advances)` for `advance`/`advance_many` results), commit, then call this
    with the injected `push` and `unlock` (server: `server.api.reading.after_change`)."""
    for event in events:
        if event.kind == "advanced":
            await _advanced(event, unlock)
    events = [e for e in events if e.kind != "advanced"]
    if events and redis is not None:  # badges are checked by the worker, batched, off the
        await badge_queue.mark_due(redis, events[0].user_id)  # request (badge_queue.py)
    for event in events:
        if event.scores is not None:
            await _scored(redis, event.scores, push)
            continue
        try:
            row = await db.pool.fetchrow(
                "SELECT b.title, COALESCE(s.private, false) AS private FROM books b"
                " LEFT JOIN reading_states s ON s.book_id = b.id AND s.user_id = $2"
                " WHERE b.id = $1", event.book_id, event.user_id)
            if row is None or row["private"]:
                continue
            payload: dict[str, object] = {"title": row["title"], "book_id": event.book_id}
            kind, object_id = "book", event.book_id
            if event.review_id is not None:
                kind, object_id = "review", event.review_id
            if event.rating is not None:
                payload["rating"] = f"{event.rating:g}"
            await record_activity(db, redis, actor_id=event.user_id, verb=_VERBS[event.kind],
                                  object_kind=kind, object_id=object_id, payload=payload)
        except Exception:
            log.exception("feed activity %s of user %s failed", event.kind, event.user_id)
