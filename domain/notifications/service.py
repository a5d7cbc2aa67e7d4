"""Notification use-cases: notify (persist, group, then enqueue delivery), the inbox, read state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.jobqueue import enqueue_quietly
from domain.notifications import types as registry
from domain.notifications.prefs import channels_for
from domain.social import cursor as cursors
from domain.social.rules import hidden_user_ids, hidden_users_sql

DELIVER_JOB = "deliver_notification"
MAX_TARGET = 64
MAX_PAYLOAD = 4096


class ActorCard(msgspec.Struct, frozen=True):
    id: int
    handle: str
    display_name: str


class Target(msgspec.Struct, frozen=True):
    kind: str
    id: str


class NotificationView(msgspec.Struct, frozen=True):
    """One inbox entry as clients see it (REST list and the live `notification` event)."""

    id: int
    type: str
    text: str
    actors: list[ActorCard]
    actor_count: int
    event_count: int
    target: Target
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    read: bool
    seen: bool


class NotificationPage(msgspec.Struct, frozen=True):
    items: list[NotificationView]
    unread_count: int
    next_cursor: str | None = None


class UnreadCount(msgspec.Struct, frozen=True):
    unread_count: int


def deliver_job_id(notification_id: int, event_count: int) -> str:
    return f"notif:{notification_id}:{event_count}"


_GROUP_SQL = """
UPDATE notifications n SET
  actor_ids = CASE WHEN $5::bigint IS NULL THEN n.actor_ids
              ELSE array_prepend($5::bigint, array_remove(n.actor_ids, $5::bigint)) END,
  actor_id = COALESCE($5::bigint, n.actor_id),
  event_count = n.event_count + 1,
  payload = n.payload || $6::jsonb,
  updated_at = now()
WHERE n.id = (
  SELECT id FROM notifications
  WHERE recipient_id = $1 AND type = $2 AND target_kind = $3 AND target_id = $4
    AND read_at IS NULL AND updated_at > now() - make_interval(secs => $7)
  ORDER BY updated_at DESC LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING n.id, n.event_count
"""

_INSERT_SQL = """
INSERT INTO notifications (recipient_id, type, actor_id, actor_ids, target_kind, target_id,
                           payload, email_state, push_state, read_at, delivered_at)
VALUES ($1, $2, $3, CASE WHEN $3::bigint IS NULL THEN '{}'::bigint[] ELSE ARRAY[$3::bigint] END,
        $4, $5, $6::jsonb, $7, $8,
        CASE WHEN $9 THEN NULL ELSE now() END, CASE WHEN $9 THEN NULL ELSE now() END)
RETURNING id, event_count
"""


async def notify(db: Database, redis: Redis | None, *, recipient_id: int, type: str,
                 actor_id: int | None = None, target_kind: str = "", target_id: str | int = "",
                 payload: dict[str, Any] | None = None, group_window: int = 3600) -> int | None:
    """Create (or group into) a notification for `recipient_id`, then enqueue its delivery.

    Returns its id, or None when nothing is stored: the actor is the recipient, the two are
    blocked either way or the recipient muted the actor, or every channel of the type is off.
    Persisted first; if the queue is unreachable the delivery sweep picks it up later.
    """
    kind = registry.get(type)
    target_id = str(target_id)
    if len(target_kind) > 30 or len(target_id) > MAX_TARGET:
        raise Invalid("notification target is too long", code="invalid_target")
    if actor_id is not None:
        if actor_id == recipient_id:
            return None
        if actor_id in await hidden_user_ids(db, recipient_id):
            return None
    channels = await channels_for(db, recipient_id, type)
    if not any(channels.values()):
        return None
    body = json.dumps(payload or {})
    if len(body) > MAX_PAYLOAD:
        raise Invalid(f"notification payload is over {MAX_PAYLOAD} bytes", code="payload_too_big")
    row = None
    async with db.pool.acquire() as conn, conn.transaction():
        if kind.groupable and channels["in_app"]:
            row = await conn.fetchrow(_GROUP_SQL, recipient_id, type, target_kind, target_id,
                                      actor_id, body, float(group_window))
        if row is None:
            row = await conn.fetchrow(
                _INSERT_SQL, recipient_id, type, actor_id, target_kind, target_id, body,
                "pending" if channels["email"] else "none",
                "pending" if channels["push"] else "none", channels["in_app"])
    nid, count = int(row["id"]), int(row["event_count"])
    if redis is not None:
        await enqueue_quietly(redis, DELIVER_JOB, nid, job_id=deliver_job_id(nid, count))
    return nid


VIEW_COLS = ("id, type, actor_ids, event_count, target_kind, target_id, payload, created_at,"
              " updated_at, read_at, seen_at")


async def actor_cards(db: Database, ids: set[int]) -> dict[int, ActorCard]:
    if not ids:
        return {}
    rows = await db.pool.fetch(
        "SELECT id, handle, display_name FROM users WHERE id = ANY($1::bigint[])", list(ids))
    return {int(r["id"]): ActorCard(id=r["id"], handle=r["handle"],
                                    display_name=r["display_name"]) for r in rows}


async def views(db: Database, rows: list[Any],
                hidden: set[int] | frozenset[int] = frozenset()) -> list[NotificationView]:
    """Render rows (with `VIEW_COLS`) into views, fetching the first actors in one query.

    Actors in `hidden` (blocked either way or muted since) are left out of the names; a row
    whose every actor is hidden is left out altogether."""
    kept = [(r, [int(a) for a in r["actor_ids"] if int(a) not in hidden]) for r in rows]
    kept = [(r, ids) for r, ids in kept if ids or not r["actor_ids"]]
    wanted = {a for _, ids in kept for a in ids[:2]}
    cards = await actor_cards(db, wanted)
    out = []
    for r, actor_ids in kept:
        shown = [cards[a] for a in actor_ids[:2] if a in cards]
        payload = r["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        kind = registry.get(r["type"])
        text = registry.render_text(kind, [c.display_name for c in shown], len(actor_ids),
                                    payload)
        out.append(NotificationView(
            id=r["id"], type=r["type"], text=text, actors=shown, actor_count=len(actor_ids),
            event_count=r["event_count"], target=Target(kind=r["target_kind"], id=r["target_id"]),
            payload=payload, created_at=r["created_at"], updated_at=r["updated_at"],
            read=r["read_at"] is not None, seen=r["seen_at"] is not None))
    return out


# Unread notifications of {user}, not counting those whose every actor is in {hidden}.
_UNREAD_SQL = ("SELECT count(*) FROM notifications WHERE recipient_id = {user}"
               " AND read_at IS NULL"
               " AND NOT (cardinality(actor_ids) > 0 AND actor_ids <@ {hidden})")
_UNREAD_COUNT_SQL = _UNREAD_SQL.format(user="$1", hidden="$2::bigint[]")


async def unread_count(db: Database, user_id: int,
                       hidden: set[int] | None = None) -> int:
    """Unread notifications, not counting those whose every actor is now hidden."""
    if hidden is None:
        hidden = await hidden_user_ids(db, user_id)
    return int(await db.pool.fetchval(_UNREAD_COUNT_SQL, user_id, list(hidden)))


async def get_view(db: Database, notification_id: int) -> tuple[int, NotificationView] | None:
    """(recipient id, view) of one notification, or None when it no longer exists or every
    actor of it is now hidden from the recipient (so it is never delivered)."""
    row = await db.pool.fetchrow(
        f"SELECT recipient_id, {VIEW_COLS} FROM notifications WHERE id = $1", notification_id)
    if row is None:
        return None
    recipient = int(row["recipient_id"])
    rendered = await views(db, [row], await hidden_user_ids(db, recipient))
    return (recipient, rendered[0]) if rendered else None


class Delivery(msgspec.Struct, frozen=True):
    """What the delivery job needs, read in one go: the view (None when every actor is now
    hidden), the unread count, and the row's delivery state."""

    recipient_id: int
    view: NotificationView | None
    unread_count: int
    updated_at: datetime
    delivered: bool
    email_state: str
    push_state: str


# The row, the recipient's hidden set (`hidden_users_sql`) and, unless this version was
# delivered already, the unread count over that set: one statement instead of three.
_DELIVERY_SQL = f"""
WITH n AS (SELECT recipient_id, delivered_at, email_state, push_state, {VIEW_COLS}
           FROM notifications WHERE id = $1),
h AS (SELECT ARRAY({hidden_users_sql("(SELECT recipient_id FROM n)")})::bigint[] AS ids)
SELECT n.*, h.ids AS hidden,
       CASE WHEN n.delivered_at >= n.updated_at THEN 0
            ELSE ({_UNREAD_SQL.format(user="n.recipient_id", hidden="h.ids")}) END AS unread
FROM n, h
"""


async def delivery(db: Database, notification_id: int) -> Delivery | None:
    """The delivery snapshot of one notification (None if it no longer exists); 2 queries
    (the row with the hidden set and unread count, then the actors' names)."""
    row = await db.pool.fetchrow(_DELIVERY_SQL, notification_id)
    if row is None:
        return None
    hidden = {int(i) for i in row["hidden"]}
    rendered = await views(db, [row], hidden)
    delivered = row["delivered_at"] is not None and row["delivered_at"] >= row["updated_at"]
    return Delivery(recipient_id=int(row["recipient_id"]),
                    view=rendered[0] if rendered else None,
                    unread_count=0 if delivered else int(row["unread"]),
                    updated_at=row["updated_at"], delivered=delivered,
                    email_state=row["email_state"], push_state=row["push_state"])


async def list_notifications(db: Database, user_id: int, *, cursor: str | None = None,
                             limit: int = 20, unread_only: bool = False) -> NotificationPage:
    """Newest activity first (a grouped entry moves up when it grows); keyset paged."""
    limit = cursors.check_limit(limit)
    after = cursors.decode(cursor)
    rows = await db.pool.fetch(
        f"SELECT {VIEW_COLS} FROM notifications WHERE recipient_id = $1"
        " AND ($2::timestamptz IS NULL OR (updated_at, id) < ($2::timestamptz, $3::bigint))"
        " AND (NOT $4 OR read_at IS NULL)"
        " ORDER BY updated_at DESC, id DESC LIMIT $5",
        user_id, after[0] if after else None, after[1] if after else None, unread_only,
        limit + 1)
    hidden = await hidden_user_ids(db, user_id)
    items = await views(db, list(rows[:limit]), hidden)
    return NotificationPage(items=items, unread_count=await unread_count(db, user_id, hidden),
                            next_cursor=cursors.next_page(rows, limit, "updated_at"))


UNREAD_JOB = "announce_unread"


async def _announce(redis: Redis | None, user_id: int) -> None:
    """Tell the user's other open clients the new unread count (through the worker)."""
    if redis is not None:
        await enqueue_quietly(redis, UNREAD_JOB, user_id)


async def mark_read(db: Database, user_id: int, notification_id: int,
                    redis: Redis | None = None) -> UnreadCount:
    done = await db.pool.fetchval(
        "UPDATE notifications SET read_at = COALESCE(read_at, now()),"
        " seen_at = COALESCE(seen_at, now()) WHERE id = $1 AND recipient_id = $2 RETURNING id",
        notification_id, user_id)
    if done is None:
        raise NotFound("no such notification", code="notification_not_found")
    await _announce(redis, user_id)
    return UnreadCount(unread_count=await unread_count(db, user_id))


async def mark_all_read(db: Database, user_id: int, before_id: int | None = None,
                        redis: Redis | None = None) -> UnreadCount:
    """Mark every unread notification read (optionally only those with id <= `before_id`)."""
    await db.pool.execute(
        "UPDATE notifications SET read_at = now(), seen_at = COALESCE(seen_at, now())"
        " WHERE recipient_id = $1 AND read_at IS NULL AND ($2::bigint IS NULL OR id <= $2)",
        user_id, before_id)
    await _announce(redis, user_id)
    return UnreadCount(unread_count=await unread_count(db, user_id))


async def mark_all_seen(db: Database, user_id: int) -> UnreadCount:
    """The user opened the list: everything is seen (still unread until opened one by one)."""
    await db.pool.execute("UPDATE notifications SET seen_at = now()"
                          " WHERE recipient_id = $1 AND seen_at IS NULL", user_id)
    return UnreadCount(unread_count=await unread_count(db, user_id))


async def delete_notification(db: Database, user_id: int, notification_id: int,
                              redis: Redis | None = None) -> None:
    done = await db.pool.fetchval(
        "DELETE FROM notifications WHERE id = $1 AND recipient_id = $2 RETURNING id",
        notification_id, user_id)
    if done is None:
        raise NotFound("no such notification", code="notification_not_found")
    await _announce(redis, user_id)
