"""Notification preferences: per type × channel switches, time zone, quiet hours and the digest."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from domain.db import Database
from domain.errors import Invalid
from domain.notifications import types as registry
from domain.notifications.types import CHANNELS


class ChannelPrefs(msgspec.Struct):
    in_app: bool
    email: bool
    push: bool


class Preferences(msgspec.Struct):
    """What a user chose. Quiet hours are "HH:MM" in `timezone`; email and push that fall in
    them are deferred to their end (never dropped). With `digest`, email is gathered into one
    message a day at `digest_hour` local time instead of one email per notification."""

    timezone: str
    quiet_start: str | None
    quiet_end: str | None
    digest: bool
    digest_hour: int
    email_opt_out: bool
    types: dict[str, ChannelPrefs]


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Every field optional; `types` maps a type name to the channels to change."""

    timezone: str | None = None
    quiet_start: str | msgspec.UnsetType | None = msgspec.UNSET
    quiet_end: str | msgspec.UnsetType | None = msgspec.UNSET
    digest: bool | None = None
    digest_hour: int | None = None
    email_opt_out: bool | None = None
    types: dict[str, dict[str, bool]] | None = None


class DeliverySettings(msgspec.Struct, frozen=True):
    """The per-user settings the worker needs to decide when to send."""

    timezone: str = "UTC"
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None
    digest: bool = False
    digest_hour: int = 8
    email_opt_out: bool = False
    last_digest_at: datetime | None = None

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet period `now` falls in (aware, UTC), or None outside one."""
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return None
        local = now.astimezone(self.zone())
        minute = local.hour * 60 + local.minute
        start, end = self.quiet_start, self.quiet_end
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            return None
        end_day = local.date()
        if start > end and minute >= start:  # quiet period runs past midnight
            end_day = end_day + timedelta(days=1)
        end_local = datetime.combine(end_day, time(end // 60, end % 60), tzinfo=self.zone())
        return end_local.astimezone(now.tzinfo)


def _minutes(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        hh, mm = value.split(":")
        h, m = int(hh), int(mm)
        if len(hh) != 2 or len(mm) != 2 or not (0 <= h < 24 and 0 <= m < 60):
            raise ValueError(value)
    except ValueError as exc:
        raise Invalid(f"{field} must be a time as HH:MM (24-hour)", code="invalid_time",
                      field=field) from exc
    return h * 60 + m


def _hhmm(minutes: int | None) -> str | None:
    return None if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {name!r} (use an IANA name like Europe/Lisbon)",
                      code="invalid_timezone", field="timezone") from exc
    return name


async def delivery_settings(db: Database, user_id: int) -> DeliverySettings:
    row = await db.pool.fetchrow(
        "SELECT timezone, quiet_start, quiet_end, digest, digest_hour, email_opt_out,"
        " last_digest_at FROM notification_settings WHERE user_id = $1", user_id)
    return DeliverySettings(**dict(row)) if row else DeliverySettings()


async def channels_for(db: Database, user_id: int, type_name: str) -> dict[str, bool]:
    """The effective channel switches of one type for one user (explicit choice or default)."""
    kind = registry.get(type_name)
    rows = await db.pool.fetch(
        "SELECT channel, enabled FROM notification_prefs WHERE user_id = $1 AND type = $2",
        user_id, type_name)
    chosen = {r["channel"]: bool(r["enabled"]) for r in rows}
    return {c: chosen.get(c, kind.default(c)) for c in CHANNELS}


async def get_preferences(db: Database, user_id: int) -> Preferences:
    ds = await delivery_settings(db, user_id)
    rows = await db.pool.fetch(
        "SELECT type, channel, enabled FROM notification_prefs WHERE user_id = $1", user_id)
    chosen = {(r["type"], r["channel"]): bool(r["enabled"]) for r in rows}
    types = {k.name: ChannelPrefs(**{c: chosen.get((k.name, c), k.default(c)) for c in CHANNELS})
             for k in registry.all_types()}
    return Preferences(timezone=ds.timezone, quiet_start=_hhmm(ds.quiet_start),
                       quiet_end=_hhmm(ds.quiet_end), digest=ds.digest,
                       digest_hour=ds.digest_hour, email_opt_out=ds.email_opt_out, types=types)


async def update_preferences(db: Database, user_id: int, update: PreferencesUpdate) -> Preferences:
    """Validate everything first, then write it in one transaction (all or nothing)."""
    fields: dict[str, Any] = {}
    if update.timezone is not None:
        fields["timezone"] = _check_timezone(update.timezone)
    if update.quiet_start is not msgspec.UNSET:
        fields["quiet_start"] = _minutes(update.quiet_start, "quiet_start")
    if update.quiet_end is not msgspec.UNSET:
        fields["quiet_end"] = _minutes(update.quiet_end, "quiet_end")
    if update.digest is not None:
        fields["digest"] = update.digest
    if update.digest_hour is not None:
        if not 0 <= update.digest_hour <= 23:
            raise Invalid("digest_hour must be 0..23", code="invalid_digest_hour",
                          field="digest_hour")
        fields["digest_hour"] = update.digest_hour
    if update.email_opt_out is not None:
        fields["email_opt_out"] = update.email_opt_out
    switches: list[tuple[str, str, bool]] = []
    for type_name, channels in (update.types or {}).items():
        registry.get(type_name)
        for channel, enabled in channels.items():
            if channel not in CHANNELS:
                raise Invalid(f"unknown channel {channel!r} (in_app, email, push)",
                              code="invalid_channel", field=f"types.{type_name}")
            switches.append((type_name, channel, bool(enabled)))
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO notification_settings (user_id) VALUES ($1)"
                           " ON CONFLICT (user_id) DO NOTHING", user_id)
        if fields:
            cols = list(fields)
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
            await conn.execute(f"UPDATE notification_settings SET {sets}, updated_at = now()"
                               f" WHERE user_id = $1", user_id, *[fields[c] for c in cols])
        if switches:
            await conn.executemany(
                "INSERT INTO notification_prefs (user_id, type, channel, enabled)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, type, channel)"
                " DO UPDATE SET enabled = EXCLUDED.enabled",
                [(user_id, t, c, e) for t, c, e in switches])
    return await get_preferences(db, user_id)


async def set_channel(db: Database, user_id: int, type_name: str | None, channel: str,
                      enabled: bool) -> None:
    """Switch one channel for one type, or (type None) opt out of every email."""
    if type_name is None:
        await db.pool.execute(
            "INSERT INTO notification_settings (user_id, email_opt_out) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE SET email_opt_out = EXCLUDED.email_opt_out,"
            " updated_at = now()", user_id, not enabled)
        return
    await db.pool.execute(
        "INSERT INTO notification_prefs (user_id, type, channel, enabled) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT (user_id, type, channel) DO UPDATE SET enabled = EXCLUDED.enabled",
        user_id, type_name, channel, enabled)
