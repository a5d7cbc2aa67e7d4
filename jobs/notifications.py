"""Notification jobs: live delivery on `user:<id>`, email, web push, quiet-hour deferral, digest."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec

from domain.keys import PUSH_DONE
from domain.notifications.prefs import DeliverySettings, channels_for, delivery_settings
from domain.notifications.service import (
    VIEW_COLS,
    deliver_job_id,
    delivery,
    get_view,
    unread_count,
    views,
)
from domain.social.rules import hidden_user_ids
from jobs import mailer
from jobs.online import online_users
from jobs.push import PushGone, send_push
from jobs.retry import TransientError, task
from realtime.publisher import meta_key
from realtime.rooms.base import RoomEvent

UNDELIVERED_AFTER = timedelta(seconds=30)
LOST_JOBS_WINDOW = timedelta(days=1)


def _now(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)


@task
async def deliver_notification(ctx: dict[str, Any], notification_id: int) -> str:
    """Publish the notification (with the unread count) on the recipient's `user:<id>` room
    once per version, then queue its email and push deliveries."""
    db = ctx["db"]
    snap = await delivery(db, notification_id)
    if snap is None:
        return "gone"
    if snap.view is None:  # its actors are now blocked/muted: never announce it
        await db.pool.execute("UPDATE notifications SET delivered_at = now() WHERE id = $1",
                              notification_id)
        return "suppressed"
    outcome = "already delivered"
    if not snap.delivered:
        room = f"user:{snap.recipient_id}"
        # the history key makes a retry after a lost reply (Redis went down between running
        # the publish and answering) find the event already stored instead of publishing twice
        key = f"notif:{notification_id}:{int(snap.updated_at.timestamp() * 1_000_000)}"
        if not await _published(ctx["redis"], room, key):
            data = {"notification": msgspec.to_builtins(snap.view),
                    "unread_count": snap.unread_count}
            await ctx["publisher"].publish(room, RoomEvent(
                "notification", data, target_user_ids=[snap.recipient_id], key=key))
        await db.pool.execute("UPDATE notifications SET delivered_at = now()"
                              " WHERE id = $1 AND updated_at = $2", notification_id,
                              snap.updated_at)
        outcome = "delivered"
    redis = ctx["redis"]
    if snap.email_state == "pending":
        await redis.enqueue_job("send_notification_email", notification_id,
                                _job_id=f"email:{notification_id}")
    if snap.push_state == "pending" and not snap.delivered and \
            await online_users(redis, [snap.recipient_id]):
        # web push is for closed clients: an open one just showed it live
        await _set_state(db, "push_state", notification_id, "skipped")
    elif snap.push_state == "pending":
        await redis.enqueue_job("send_notification_push", notification_id,
                                _job_id=f"push:{notification_id}")
    return outcome


async def _published(redis: Any, room: str, key: str) -> bool:
    """Whether an event stored under history `key` is in `room`'s current history (the
    publisher records `k:<key>` in the room's meta hash, see realtime/publisher.py)."""
    return bool(await redis.hexists(meta_key(room), f"k:{key}"))


async def _set_state(db: Any, column: str, notification_id: int, state: str,
                     due: datetime | None = None) -> None:
    due_col = "email_due_at" if column == "email_state" else "push_due_at"
    await db.pool.execute(f"UPDATE notifications SET {column} = $2, {due_col} = $3"
                          f" WHERE id = $1", notification_id, state, due)


@task
async def announce_unread(ctx: dict[str, Any], user_id: int) -> int:
    """Publish the current unread count on `user:<id>` (after reads and deletes, so every open
    client of the user updates its badge)."""
    count = await unread_count(ctx["db"], user_id)
    await ctx["publisher"].publish(f"user:{user_id}", RoomEvent(
        "unread", {"unread_count": count}, target_user_ids=[user_id]))
    return count


@task
async def send_notification_email(ctx: dict[str, Any], notification_id: int,
                                  due: bool = False) -> str:
    """Email one notification unless switched off, gathered for the digest or in quiet hours
    (then deferred to their end). Safe to run twice: only `pending`/`deferred` rows are sent."""
    db, settings = ctx["db"], ctx["settings"]
    row = await db.pool.fetchrow(
        "SELECT n.recipient_id, n.type, n.email_state, n.read_at, u.email,"
        " u.email_verified_at FROM notifications n"
        " JOIN users u ON u.id = n.recipient_id WHERE n.id = $1", notification_id)
    if row is None or row["email_state"] not in ("pending", "deferred"):
        return "nothing to send"
    recipient, type_name = int(row["recipient_id"]), str(row["type"])
    ds = await delivery_settings(db, recipient)
    unverified = row["email_verified_at"] is None and settings.email_verification == "required"
    if ds.email_opt_out or unverified or row["read_at"] is not None \
            or not (await channels_for(db, recipient, type_name))["email"]:
        await _set_state(db, "email_state", notification_id, "skipped")
        return "skipped"
    if ds.digest:
        await _set_state(db, "email_state", notification_id, "digest")
        return "digest"
    if not due:
        quiet_end = ds.quiet_until(datetime.now(UTC))
        if quiet_end is not None:
            await _set_state(db, "email_state", notification_id, "deferred", quiet_end)
            return "deferred"
    got = await get_view(db, notification_id)
    if got is None:
        await _set_state(db, "email_state", notification_id, "skipped")
        return "suppressed"
    view = got[1]
    msg = mailer.build_message(settings, to=row["email"], subject=view.text, lines=[view.text],
                               user_id=recipient, type_name=type_name)
    await mailer.send(settings, msg)
    await _set_state(db, "email_state", notification_id, "sent")
    return "sent"


@task
async def send_notification_push(ctx: dict[str, Any], notification_id: int,
                                 due: bool = False) -> str:
    """Web Push one notification to each of the recipient's subscriptions (once each, even
    across retries); 404/410 deletes the subscription; quiet hours defer it."""
    db, settings, redis = ctx["db"], ctx["settings"], ctx["redis"]
    row = await db.pool.fetchrow(
        "SELECT recipient_id, type, push_state, read_at FROM notifications WHERE id = $1",
        notification_id)
    if row is None or row["push_state"] not in ("pending", "deferred"):
        return "nothing to send"
    recipient, type_name = int(row["recipient_id"]), str(row["type"])
    if not (await channels_for(db, recipient, type_name))["push"] or row["read_at"] is not None:
        await _set_state(db, "push_state", notification_id, "skipped")
        return "skipped"
    if not due:
        quiet_end = (await delivery_settings(db, recipient)).quiet_until(datetime.now(UTC))
        if quiet_end is not None:
            await _set_state(db, "push_state", notification_id, "deferred", quiet_end)
            return "deferred"
    subs = await db.pool.fetch("SELECT id, endpoint, p256dh, auth FROM push_subscriptions"
                               " WHERE user_id = $1", recipient)
    got = await get_view(db, notification_id)
    if got is None:
        await _set_state(db, "push_state", notification_id, "skipped")
        return "suppressed"
    view = got[1]
    payload = json.dumps({"id": view.id, "type": view.type, "title": "Readalong",
                          "body": view.text, "url": f"{settings.public_url}/app/",
                          "unread_count": await unread_count(db, recipient)}).encode()
    done_key = f"{PUSH_DONE}{notification_id}"
    done = {int(m) for m in await redis.smembers(done_key)}
    transient: Exception | None = None
    async with httpx.AsyncClient(timeout=10) as client:
        for sub in subs:
            if sub["id"] in done:
                continue
            try:
                await send_push(client, ctx["vapid_key"], settings.vapid_subject, sub, payload)
            except PushGone:
                await db.pool.execute("DELETE FROM push_subscriptions WHERE id = $1", sub["id"])
                continue
            except (TransientError, httpx.TransportError) as exc:
                transient = exc
                continue
            await redis.sadd(done_key, str(sub["id"]))
            await redis.expire(done_key, 7 * 24 * 3600)
            await db.pool.execute("UPDATE push_subscriptions SET last_success_at = now()"
                                  " WHERE id = $1", sub["id"])
    if transient is not None:
        raise TransientError(f"some push services failed: {transient!r}")
    await _set_state(db, "push_state", notification_id, "sent")
    return "sent"


@task
async def send_digest(ctx: dict[str, Any], user_id: int) -> int:
    """One email gathering every notification waiting for the digest; returns how many."""
    db, settings = ctx["db"], ctx["settings"]
    rows = await db.pool.fetch(
        f"SELECT {VIEW_COLS} FROM notifications WHERE recipient_id = $1"
        " AND email_state = 'digest' ORDER BY created_at, id LIMIT 200", user_id)
    if rows:
        # accounts rule: no digest to an unverified address (READALONG_EMAIL_VERIFICATION)
        email = await db.pool.fetchval(
            "SELECT email FROM users WHERE id = $1 AND (email_verified_at IS NOT NULL OR $2)",
            user_id, settings.email_verification != "required")
        items = await views(db, list(rows), await hidden_user_ids(db, user_id))
        if email:
            msg = mailer.build_message(
                settings, to=email, subject=f"Your Readalong digest: {len(items)} notification"
                f"{'s' if len(items) != 1 else ''}", lines=[v.text for v in items],
                user_id=user_id)
            await mailer.send(settings, msg)
        await db.pool.execute("UPDATE notifications SET email_state = 'sent'"
                              " WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
    await db.pool.execute(
        "INSERT INTO notification_settings (user_id, last_digest_at) VALUES ($1, now())"
        " ON CONFLICT (user_id) DO UPDATE SET last_digest_at = now()", user_id)
    return len(rows)


@task
async def digest_sweep(ctx: dict[str, Any], now_iso: str | None = None) -> int:
    """Cron: queue today's digest for every digest user whose local digest hour has come."""
    now = _now(now_iso)
    rows = await ctx["db"].pool.fetch(
        "SELECT user_id, timezone, digest_hour, last_digest_at, digest FROM notification_settings s"
        " WHERE digest OR EXISTS (SELECT 1 FROM notifications n WHERE n.recipient_id = s.user_id"
        "                         AND n.email_state = 'digest')")
    queued = 0
    for r in rows:
        zone = DeliverySettings(timezone=r["timezone"]).zone()
        local = now.astimezone(zone)
        last = r["last_digest_at"].astimezone(zone).date() if r["last_digest_at"] else None
        # digest turned off with mail still waiting: send what is there now
        due = not r["digest"] or (
            local.hour >= r["digest_hour"] and (last is None or last < local.date()))
        if due and await ctx["redis"].enqueue_job(
                "send_digest", int(r["user_id"]),
                _job_id=f"digest:{r['user_id']}:{local.date()}{'' if r['digest'] else ':off'}"):
            queued += 1
    return queued


@task
async def due_sweep(ctx: dict[str, Any], now_iso: str | None = None) -> int:
    """Cron: send what quiet hours deferred once they are over, and re-queue deliveries that
    never got queued (Redis was down when the notification was stored) or whose jobs were lost
    (Redis restarted without its data)."""
    db, redis = ctx["db"], ctx["redis"]
    now = _now(now_iso)
    queued = 0
    for column, due_col, job in (("email_state", "email_due_at", "send_notification_email"),
                                 ("push_state", "push_due_at", "send_notification_push")):
        rows = await db.pool.fetch(
            f"SELECT id, {due_col} AS due FROM notifications WHERE {column} = 'deferred'"
            f" AND {due_col} <= $1 ORDER BY {due_col} LIMIT 1000", now)
        for r in rows:
            stamp = int(r["due"].timestamp())
            if await redis.enqueue_job(job, int(r["id"]), True,
                                       _job_id=f"{job}:{r['id']}:due:{stamp}"):
                queued += 1
    rows = await db.pool.fetch(
        "SELECT id, event_count FROM notifications WHERE delivered_at IS NULL"
        " AND updated_at < $1 ORDER BY updated_at LIMIT 1000", now - UNDELIVERED_AFTER)
    for r in rows:
        if await redis.enqueue_job("deliver_notification", int(r["id"]),
                                   _job_id=deliver_job_id(int(r["id"]), int(r["event_count"]))):
            queued += 1
    return queued + await _requeue_lost_channels(db, redis, now)


async def _requeue_lost_channels(db: Any, redis: Any, now: datetime) -> int:
    """Delivered over 30 s ago (within a day) with email or push still `pending`: the job went
    with Redis's data. Queue it again under its own id (arq refuses it while it is queued or its
    result is kept); one that failed for good is left to the admins' retry."""
    queued = 0
    for column, job, prefix in (("email_state", "send_notification_email", "email"),
                                ("push_state", "send_notification_push", "push")):
        rows = await db.pool.fetch(
            f"SELECT id FROM notifications n WHERE {column} = 'pending'"
            " AND delivered_at IS NOT NULL AND delivered_at BETWEEN $2 AND $1"
            " AND NOT EXISTS (SELECT 1 FROM failed_jobs f WHERE f.job_id = $3 || n.id)"
            " ORDER BY delivered_at LIMIT 1000", now - UNDELIVERED_AFTER, now - LOST_JOBS_WINDOW,
            f"{prefix}:")
        for r in rows:
            if await redis.enqueue_job(job, int(r["id"]), _job_id=f"{prefix}:{r['id']}"):
                queued += 1
    return queued


async def gather_limited(coros: list[Any], limit: int = 100) -> None:
    for i in range(0, len(coros), limit):
        await asyncio.gather(*coros[i:i + limit])
