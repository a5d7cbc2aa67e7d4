"""Catch-up summaries ("what did I miss") of a co-reading session's chat, spoiler-safe by
construction.

The input is read through the session chat's own listing (`domain.sessions.content.
list_messages`: the room's access rule, the reader's viewer state and the shield's one rule,
`domain.sessions.spoilers.for_viewer`), and only the messages this reader gets IN FULL are kept:
a redacted message (gated beyond the reader's furthest progression, shield on) and a hidden one
(blocked or muted author) never reach the summariser, nor the hosted model when one is
configured. So no strategy can put a word from beyond the reader's position in a summary.
Summaries are cached per (room, the reader's gate, range of message ids).
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
from domain.db import Database
from domain.sessions.content import list_messages, viewer_state

log = logging.getLogger("readalong.ai")
CACHE = "ra:ai:catchup:"      # ra:ai:catchup:<session>:<gate fp>:<since>:<until> -> CatchUp
CACHE_TTL_S = 24 * 3600
PAGE, MAX_PAGES = 200, 10     # at most 2,000 messages read per summary


class CatchUp(msgspec.Struct):
    session_id: int
    since_id: int
    until_id: int
    method: str                  # extractive | abstractive | empty
    sentences: list[Sentence]    # the extractive summary, attributed, in original order
    text: str                    # the sentences joined, or the abstractive summary
    messages: int                # messages summarised (the ones seen in full)
    withheld: int                # messages left out: beyond the reader's position or hidden


async def reader_safe_lines(db: Database, viewer: Principal, session_id: int,
                            since_id: int) -> tuple[list[Line], int, int]:
    """(the messages after `since_id` this reader sees in full, withheld count, last id)."""
    lines: list[Line] = []
    withheld, last = 0, since_id
    cursor = str(since_id) if since_id else None
    for _ in range(MAX_PAGES):
        page = await list_messages(db, viewer, session_id, cursor, PAGE)
        for m in page.items:
            last = max(last, m.id)
            if m.redacted or not m.body:
                withheld += 1
                continue
            lines.append(Line(message_id=m.id, author_id=m.author_id,
                              author_name=m.author_name, text=m.body))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return lines, withheld, last


async def cache_key(db: Database, viewer: Principal, session_id: int, since_id: int,
                    until_id: int) -> str:
    state = await viewer_state(db, session_id, viewer.user_id)
    gate = fingerprint(state.progress, state.shield, sorted(state.hidden_authors))
    return f"{CACHE}{session_id}:{gate}:{since_id}:{until_id}"


async def cached(db: Database, redis: Redis, viewer: Principal, session_id: int,
                 since_id: int) -> CatchUp | None:
    """The ready summary for this reader's current gate and the current range, if any."""
    _, _, until = await reader_safe_lines(db, viewer, session_id, since_id)
    key = await cache_key(db, viewer, session_id, since_id, until)
    try:
        raw = await redis.get(key)
    except RedisError:
        return None
    return None if raw is None else msgspec.msgpack.decode(raw, type=CatchUp)


async def build(db: Database, redis: Redis, embedder: Embedder, viewer: Principal,
                session_id: int, since_id: int, chat: tuple[str, str, str, float] | None = None
                ) -> CatchUp:
    """Summarise what `viewer` missed after `since_id` (cached); `chat` = (base URL, key,
    model, timeout) of an OpenAI-compatible endpoint for an abstractive summary."""
    lines, withheld, until = await reader_safe_lines(db, viewer, session_id, since_id)
    key = await cache_key(db, viewer, session_id, since_id, until)
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
    result = CatchUp(session_id=session_id, since_id=since_id, until_id=until, method=method,
                     sentences=picked, text=text, messages=len(lines), withheld=withheld)
    with contextlib.suppress(RedisError):
        await redis.set(key, msgspec.msgpack.encode(result), ex=CACHE_TTL_S)
    return result
