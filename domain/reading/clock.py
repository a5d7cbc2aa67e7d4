"""A reader's time zone (reading_prefs) and the local calendar day of an instant in it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec

from domain.db import Database
from domain.errors import Invalid

DEFAULT_ZONE = "UTC"


class PrefsIn(msgspec.Struct, forbid_unknown_fields=True):
    time_zone: str


class PrefsOut(msgspec.Struct, frozen=True):
    time_zone: str


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (else `Invalid` naming `time_zone`)."""
    if not name or len(name) > 64 or name not in _zone_names():
        raise Invalid("time_zone must be an IANA time zone name such as Europe/Paris",
                      code="invalid_time_zone", field="time_zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid("unknown time zone", code="invalid_time_zone", field="time_zone") from exc


_NAMES: set[str] = set()


def _zone_names() -> set[str]:
    if not _NAMES:
        _NAMES.update(available_timezones())
        _NAMES.add("UTC")
    return _NAMES


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day `instant` falls on in `tz` (what counts for streaks, goals and dates)."""
    return instant.astimezone(tz).date()


def stored_zone(name: str | None) -> ZoneInfo:
    """A stored zone name as a zone: UTC when unset, or when tzdata dropped it since."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


async def time_zone_of(conn: Any, user_id: int) -> ZoneInfo:
    """The reader's zone (UTC until they set one). `conn` is a connection or the pool."""
    return stored_zone(await conn.fetchval(
        "SELECT time_zone FROM reading_prefs WHERE user_id = $1", user_id))


async def time_zones_of(conn: Any, user_ids: list[int]) -> dict[int, ZoneInfo]:
    """`time_zone_of` for many readers in one statement (every id gets a zone)."""
    names = {int(r["user_id"]): r["time_zone"] for r in await conn.fetch(
        "SELECT user_id, time_zone FROM reading_prefs WHERE user_id = ANY($1::bigint[])",
        user_ids)}
    return {uid: stored_zone(names.get(uid)) for uid in user_ids}


async def get_prefs(db: Database, user_id: int) -> PrefsOut:
    return PrefsOut(time_zone=str(await time_zone_of(db.pool, user_id)))


async def set_prefs(db: Database, user_id: int, data: PrefsIn) -> PrefsOut:
    tz = zone(data.time_zone.strip())
    await db.pool.execute(
        "INSERT INTO reading_prefs (user_id, time_zone) VALUES ($1, $2) "
        "ON CONFLICT (user_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, updated_at = now()",
        user_id, str(tz))
    return PrefsOut(time_zone=str(tz))
