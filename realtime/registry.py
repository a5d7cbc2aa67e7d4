"""The node's registry: its connections (by id and by user) and its local rooms with their subs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from realtime.connection import Connection
from realtime.metrics import HubMetrics
from realtime.outgoing import Outgoing
from realtime.rooms.base import RoomKind
from realtime.subscriptions import Sub, covered, is_special


class LocalRoom:
    """A room with at least one local subscriber (the node holds one Redis subscription for it)."""

    __slots__ = ("epoch", "filling", "kind", "name", "offset", "ready", "room_id", "special",
                 "subs")

    def __init__(self, name: str, kind: RoomKind, room_id: str) -> None:
        self.name = name
        self.kind = kind
        self.room_id = room_id
        self.subs: dict[str, Sub] = {}
        self.ready: asyncio.Future[None] | None = None  # the node's Redis subscription
        self.epoch: str | None = None  # of the last event fanned out (for gap repair)
        self.offset: int | None = None
        self.filling: list[Outgoing] | None = None  # live events held during a gap repair
        self.special = 0  # subscriptions whose viewer hides authors or shields spoilers

    def begin_repair(self) -> None:
        """Hold live events while the missed ones are read from history (already holding:
        keep what is held)."""
        if self.filling is None:
            self.filling = []

    def end_repair(self, epoch: str | None, offset: int | None) -> list[Outgoing]:
        """Stop holding: the held events the repair (up to epoch/offset) did not deliver."""
        held, self.filling = self.filling or [], None
        return [o for o in held if not covered(o, epoch, offset)]


class Registry:
    """Connections and local rooms of one node; no I/O (the metrics gauges follow it)."""

    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics
        self.conns: dict[str, Connection] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.rooms: dict[str, LocalRoom] = {}

    # -- connections ----------------------------------------------------------------------------
    def add_connection(self, conn: Connection) -> None:
        assert conn.info is not None
        self.conns[conn.conn_id] = conn
        self.by_user.setdefault(conn.info.user_id, set()).add(conn)
        self.metrics.connections.inc()

    def remove_connection(self, conn: Connection) -> None:
        if self.conns.pop(conn.conn_id, None) is None:
            return
        self.metrics.connections.dec()
        if conn.info is not None:
            users = self.by_user.get(conn.info.user_id)
            if users is not None:
                users.discard(conn)
                if not users:
                    del self.by_user[conn.info.user_id]

    def of_user(self, user_id: int, room: str | None = None) -> list[Connection]:
        """A user's local connections (those subscribed to `room`, if given), in id order."""
        conns = self.by_user.get(user_id, ())
        return sorted((c for c in conns if room is None or room in c.subs),
                      key=lambda c: c.conn_id)

    def readers(self, room: str) -> dict[int, list[str]]:
        """The local connection ids subscribed to `room`, per user."""
        out: dict[int, list[str]] = {}
        lr = self.rooms.get(room)
        for conn_id, sub in (lr.subs.items() if lr is not None else ()):
            info = sub.conn.info
            if info is not None:
                out.setdefault(info.user_id, []).append(conn_id)
        return {user: sorted(ids) for user, ids in out.items()}

    # -- rooms ----------------------------------------------------------------------------------
    def open_room(self, name: str, kind: RoomKind, room_id: str) -> tuple[LocalRoom, bool]:
        """The local room (True when it was just created: subscribe the node to it)."""
        lr = self.rooms.get(name)
        if lr is not None:
            return lr, False
        lr = self.rooms[name] = LocalRoom(name, kind, room_id)
        self.metrics.rooms.set(len(self.rooms))
        return lr, True

    def attach(self, lr: LocalRoom, conn: Connection, sub: Sub) -> None:
        lr.subs[conn.conn_id] = sub
        lr.special += is_special(sub.viewer)
        conn.subs[lr.name] = sub
        self.metrics.subscriptions.inc()

    def detach(self, conn: Connection, room: str) -> tuple[Sub | None, LocalRoom | None, bool]:
        """Remove a subscription: (sub, room, True when the room has no local subscriber left)."""
        sub = conn.subs.pop(room, None)
        lr = self.rooms.get(room)
        if sub is None or lr is None:
            return None, None, False
        sub.close()
        self.metrics.subscriptions.dec()
        if lr.subs.pop(conn.conn_id, None) is not None:
            lr.special -= is_special(sub.viewer)
        if lr.subs:
            return sub, lr, False
        del self.rooms[room]
        self.metrics.rooms.set(len(self.rooms))
        return sub, lr, True

    def update_viewer(self, conn_id: str, room: str, changes: Mapping[str, Any]) -> None:
        """Change one subscribed connection's viewer in `room` (the room's special count too)."""
        conn = self.conns.get(conn_id)
        sub = conn.subs.get(room) if conn is not None else None
        if sub is None:
            return
        delta = sub.change_viewer(changes)
        lr = self.rooms.get(room)
        if lr is not None and lr.subs.get(conn_id) is sub:
            lr.special += delta
