"""Catch-up summaries ("what did I miss") of a discussion place's chat - a co-reading session,
a club's chat or a club section's thread (any `domain.discussion` venue) - spoiler-safe by
construction.

The input is read through the discussion's own listing (`domain.discussion.listings.
list_messages`: the venue's access rule, the reader's viewer state and the shield's one rule,
`domain.discussion.spoilers`), and only the messages this reader sees IN FULL are kept - each is
checked again with `spoilers.sees_in_full`, the rule aggregates use: a redacted message (gated
beyond the reader's furthest progression, shield on) and a hidden one (blocked or muted author)
never reach the summariser, nor the hosted model when one is configured. So no strategy can put
a word from beyond the reader's position in a summary. Summaries are cached per (place, the
reader's gate, range of message ids).
"""

from __future__ import annotations

import contextlib
import logging

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.accounts.tokens import Principal
from domain.ai import summarize
from domain.ai.embed import Embedder
from domain.ai.summarize import Line, Sentence
from domain.catalog.cursor import fingerprint
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE
from domain.db import Database
from domain.discussion.listings import list_messages
from domain.discussion.place import Venue
from domain.discussion.spoilers import sees_in_full
from domain.sessions.venue import VENUE as SESSION_VENUE

log = logging.getLogger("readalong.ai")
# ra:ai:catchup:v2:<kind>:<place>:<gate fp>:<since>:<until> -> CatchUp
CACHE = "ra:ai:catchup:v2:"
CACHE_TTL_S = 24 * 3600
PAGE, MAX_PAGES = 200, 10     # at most 2,000 messages read per summary
VENUES: dict[str, Venue] = {v.kind: v for v in (SESSION_VENUE, CLUB_VENUE, THREAD_VENUE)}


class CatchUp(msgspec.Struct):
    kind: str                    # session | club | club_thread
    place_id: int                # the session, club or section id
    session_id: int | None       # = place_id for a session (kept for older clients)
    since_id: int
    until_id: int
    method: str                  # extractive | abstractive | empty
    sentences: list[Sentence]    # the extractive summary, attributed, in original order
    text: str                    # the sentences joined, or the abstractive summary
    messages: int                # messages summarised (the ones seen in full)
    withheld: int                # messages left out: beyond the reader's position or hidden


async def reader_safe_lines(db: Database, venue: Venue, viewer: Principal, place_id: int,
                            since_id: int) -> tuple[list[Line], int, int]:
    """(the messages after `since_id` this reader sees in full, withheld count, last id)."""
    lines: list[Line] = []
    withheld, last = 0, since_id
    cursor = str(since_id) if since_id else None
    state = await venue.viewer(db, place_id, viewer.user_id)
    for _ in range(MAX_PAGES):
        page = await list_messages(db, venue, place_id, viewer, cursor, PAGE)
        for m in page.items:
            last = max(last, m.id)
            if m.redacted or not m.body or not sees_in_full(state, m.gate, m.author_id):
                withheld += 1
                continue
            lines.append(Line(message_id=m.id, author_id=m.author_id,
                              author_name=m.author_name, text=m.body))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return lines, withheld, last


async def cache_key(db: Database, venue: Venue, viewer: Principal, place_id: int,
                    since_id: int, until_id: int) -> str:
    state = await venue.viewer(db, place_id, viewer.user_id)
    gate = fingerprint(state.progress, state.shield, sorted(state.hidden_authors))
    return f"{CACHE}{venue.kind}:{place_id}:{gate}:{since_id}:{until_id}"


async def cached(db: Database, redis: Redis, venue: Venue, viewer: Principal, place_id: int,
                 since_id: int) -> tuple[CatchUp | None, str]:
    """(the ready summary for this reader's current gate and range or None, its cache key)."""
    _, _, until = await reader_safe_lines(db, venue, viewer, place_id, since_id)
    key = await cache_key(db, venue, viewer, place_id, since_id, until)
    try:
        raw = await redis.get(key)
    except RedisError:
        return None, key
    return (None if raw is None else msgspec.msgpack.decode(raw, type=CatchUp)), key


async def build(db: Database, redis: Redis, embedder: Embedder, venue: Venue,
                viewer: Principal, place_id: int, since_id: int,
                chat: tuple[str, str, str, float] | None = None) -> CatchUp:
    """Summarise what `viewer` missed after `since_id` (cached); `chat` = (base URL, key,
    model, timeout) of an OpenAI-compatible endpoint for an abstractive summary."""
    lines, withheld, until = await reader_safe_lines(db, venue, viewer, place_id, since_id)
    key = await cache_key(db, venue, viewer, place_id, since_id, until)
    try:
        raw = await redis.get(key)
        if raw is not None:
            return msgspec.msgpack.decode(raw, type=CatchUp)
    except RedisError:
        pass
    picked = await summarize.extractive(embedder, lines)
    text = " ".join(f"{s.author_name}: {s.text}" for s in picked)
    method = "extractive" if picked else "empty"
    if chat is not None and lines:
        try:
            text = await summarize.abstractive(*chat, lines)
            method = "abstractive"
        except summarize.ChatUnavailable as exc:
            log.warning("abstractive summary failed, extractive kept: %s", exc)
    result = CatchUp(kind=venue.kind, place_id=place_id,
                     session_id=place_id if venue.kind == SESSION_VENUE.kind else None,
                     since_id=since_id, until_id=until, method=method,
                     sentences=picked, text=text, messages=len(lines), withheld=withheld)
    with contextlib.suppress(RedisError):
        await redis.set(key, msgspec.msgpack.encode(result), ex=CACHE_TTL_S)
    return result
