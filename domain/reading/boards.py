"""Leaderboard definitions and their pure rules (Nakama's semantics): operators, reset periods,
tie-breaking, and how a record is packed into one Redis sorted-set score.

A definition is immutable (change one by adding a new key). Every reset period is its own
bucket, keyed by the period's end (unix seconds, UTC; 0 = never resets). Records sort by
(score, subscore, owner id): higher score first, then higher subscore (= reached earlier in the
period), then the lower owner id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

Operator = Literal["set", "best", "incr", "decr"]
Reset = Literal["hourly", "weekly", "monthly", "yearly", "never"]
Metric = Literal["pages", "books", "minutes"]
Scope = Literal["global", "club"]

SUB_BITS = 20                      # subscore: minutes before the period's end, capped
SUB_MAX = (1 << SUB_BITS) - 1
SCORE_MAX = (1 << (53 - SUB_BITS)) - 1  # packed scores stay exact in a double
MEMBER_BASE = 10**19 - 1           # members are zero-padded (MEMBER_BASE - owner id)
NEVER_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Board(msgspec.Struct, frozen=True):
    key: str
    title: str
    metric: Metric
    operator: Operator
    reset: Reset
    sort: Literal["desc"] = "desc"
    public: bool = True   # internal boards (plausibility buckets) are not listed
    scope: Scope = "global"  # "club": one board per club, keyed `<key>:<club id>`


BOARDS: dict[str, Board] = {b.key: b for b in (
    Board("pages-week", "Pages this week", "pages", "incr", "weekly"),
    Board("books-month", "Books this month", "books", "incr", "monthly"),
    Board("books-year", "Books this year", "books", "incr", "yearly"),
    Board("pages-all", "Pages, all time", "pages", "incr", "never"),
    Board("coreading-minutes-month", "Co-reading minutes this month", "minutes", "incr",
          "monthly"),
    Board("club-pages-month", "A club's pages this month (members, since joining)", "pages",
          "incr", "monthly", scope="club"),
    Board("pages-hour", "Pages this hour (plausibility cap)", "pages", "incr", "hourly",
          public=False),
)}
#: The most pages one reader may score in one clock hour (UTC); more is not credited.
PAGES_PER_HOUR = 600


def split_key(key: str) -> tuple[str, int | None]:
    """A bucket key's board and club: `club-pages-month:42` -> (`club-pages-month`, 42);
    `pages-week` -> (`pages-week`, None); a malformed club id -> (key, None)."""
    name, sep, club = key.partition(":")
    if not sep:
        return key, None
    if not club.isdigit() or len(club) > 18 or int(club) < 1:
        return key, None
    return name, int(club)


def scoped(board: Board, club_id: int) -> str:
    """The key of a club-scoped board's records for one club."""
    return f"{board.key}:{club_id}"


def definition(key: str) -> Board:
    """The definition behind a (possibly club-scoped) record key."""
    return BOARDS[split_key(key)[0]]


def period_bounds(reset: Reset, at: datetime) -> tuple[datetime, datetime | None]:
    """(start, end) of the period `at` falls in (UTC); end None for a board that never resets.
    Weeks start on Monday 00:00 UTC, months on the 1st, years on 1 January."""
    at = at.astimezone(UTC)
    if reset == "never":
        return NEVER_EPOCH, None
    if reset == "hourly":
        start = at.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if reset == "yearly":
        start = day.replace(month=1, day=1)
        return start, start.replace(year=start.year + 1)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def period_end(reset: Reset, at: datetime) -> int:
    """The bucket of `at`: its period's end in unix seconds (0 = never resets)."""
    end = period_bounds(reset, at)[1]
    return int(end.timestamp()) if end is not None else 0


def previous_period_end(reset: Reset, at: datetime) -> int | None:
    """The bucket of the period before the one `at` falls in (None: never resets)."""
    start, end = period_bounds(reset, at)
    if end is None:
        return None
    return int(start.timestamp())


def subscore(reset: Reset, at: datetime) -> int:
    """Larger when reached earlier in the period (ties: whoever got there first ranks higher)."""
    start = period_bounds(reset, at)[0]
    minutes = int((at - start).total_seconds() // 60)
    return SUB_MAX - min(SUB_MAX, max(0, minutes))


def apply(operator: Operator, old: int | None, value: int) -> int:
    """The record's new score after a write of `value` (decr is clamped at 0)."""
    if old is None:
        return max(0, value) if operator != "decr" else 0
    if operator == "set":
        return max(0, value)
    if operator == "best":
        return max(old, value)
    if operator == "incr":
        return old + value
    return max(old - value, 0)


def packed(score: int, sub: int) -> float:
    """One double ordering (score, subscore) exactly."""
    return float(min(score, SCORE_MAX) * (1 << SUB_BITS) + min(max(sub, 0), SUB_MAX))


def unpack(value: float) -> tuple[int, int]:
    whole = int(value)
    return whole >> SUB_BITS, whole & SUB_MAX


def member(owner_id: int) -> str:
    """Equal packed scores order by member in reverse (ZREVRANGE): invert so lower ids lead."""
    return f"{MEMBER_BASE - owner_id:019d}"


def owner(member_value: bytes | str) -> int:
    text = member_value.decode() if isinstance(member_value, bytes) else member_value
    return MEMBER_BASE - int(text)
