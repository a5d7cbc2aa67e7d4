"""Moderation assist: a documented heuristic that flags likely spam or abuse for the moderators'
queue (`ai_flags`). It never hides, edits or deletes anything: moderators decide.

Score = 1 - prod(1 - w_i) over the signals that fire (independent-evidence combination), so one
strong signal or several weak ones reach the flag threshold (0.6):

| signal | weight |
|---|---|
| two or more links | 0.5 (one link: 0.2) |
| a spam phrase ("buy now", "free money", "click here", crypto/casino offers...) | 0.6 |
| an abusive word (a short list of slurs and insults, matched on whole words) | 0.7 |
| shouting: at least 20 letters and over 70 % capitals | 0.3 |
| a character repeated 8+ times, or one word making up half of 6+ words | 0.3 |
| five or more @mentions | 0.4 |
"""

from __future__ import annotations

import re
from collections import Counter

import msgspec
from redis.asyncio import Redis

from domain.db import Database

THRESHOLD = 0.6
LAST_KEY = "ra:ai:mod:last:"   # ra:ai:mod:last:<kind> -> the last id scored
_LINK = re.compile(r"https?://|www\.", re.I)
_SPAM = re.compile(r"\b(buy now|free money|click here|limited offer|earn \$?\d+|work from home|"
                   r"crypto (giveaway|signals)|casino bonus|dm me for|promo code)\b", re.I)
_ABUSE = re.compile(r"\b(idiot|moron|stupid|retard\w*|scum|kill yourself|kys|loser|"
                    r"shut up)\b", re.I)
_REPEAT = re.compile(r"(.)\1{7,}")
_MENTION = re.compile(r"(?<!\w)@\w+")


class Flag(msgspec.Struct):
    id: int
    kind: str
    target_id: int
    score: float
    reasons: list[str]


def score(text: str) -> tuple[float, list[str]]:
    """(score in [0, 1), the reasons that fired) for one text."""
    signals: list[tuple[float, str]] = []
    links = len(_LINK.findall(text))
    if links >= 2:
        signals.append((0.5, "links"))
    elif links == 1:
        signals.append((0.2, "link"))
    if _SPAM.search(text):
        signals.append((0.6, "spam phrase"))
    if _ABUSE.search(text):
        signals.append((0.7, "abusive language"))
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        signals.append((0.3, "shouting"))
    words = re.findall(r"\w+", text.lower())
    if _REPEAT.search(text) or (len(words) >= 6
                                and Counter(words).most_common(1)[0][1] * 2 >= len(words)):
        signals.append((0.3, "repetition"))
    if len(_MENTION.findall(text)) >= 5:
        signals.append((0.4, "mention flood"))
    keep = 1.0
    for weight, _ in signals:
        keep *= 1.0 - weight
    return round(1.0 - keep, 3), [reason for _, reason in signals]


# kind -> (table, text column): session and club chat, club thread posts, reviews and their
# comments are scored
SOURCES = {"message": ("session_messages", "body"), "review": ("reviews", "body"),
           "club_message": ("club_messages", "body"),
           "club_post": ("club_thread_messages", "body"),
           "review_comment": ("review_comments", "body")}


async def sweep(db: Database, redis: Redis, batch: int = 500) -> int:
    """Score what was written since the last sweep; flag (upsert) the likely bad; flags made."""
    flagged = 0
    for kind, (table, column) in SOURCES.items():
        last = int(await redis.get(LAST_KEY + kind) or 0)
        async with db.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT id, {column} AS text FROM {table} "
                                    f"WHERE id > $1 ORDER BY id LIMIT $2", last, batch)
            for r in rows:
                value, reasons = score(r["text"] or "")
                if value >= THRESHOLD:
                    flagged += 1
                    await conn.execute(
                        "INSERT INTO ai_flags (kind, target_id, score, reasons) "
                        "VALUES ($1, $2, $3, $4) ON CONFLICT (kind, target_id) DO UPDATE "
                        "SET score = EXCLUDED.score, reasons = EXCLUDED.reasons",
                        kind, r["id"], value, reasons)
        if rows:
            await redis.set(LAST_KEY + kind, rows[-1]["id"])
    return flagged


async def flags(db: Database, limit: int = 50, before: int | None = None) -> list[Flag]:
    """The newest flags first (keyset by id)."""
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, kind, target_id, score, reasons FROM ai_flags "
                                "WHERE id < $1 ORDER BY id DESC LIMIT $2",
                                before or 2**63 - 1, limit)
    return [Flag(id=r["id"], kind=r["kind"], target_id=r["target_id"], score=r["score"],
                 reasons=list(r["reasons"])) for r in rows]
