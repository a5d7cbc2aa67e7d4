"""What a node does with each control message (evict, revoke, reshield, reader changes)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from domain.errors import DomainError
from realtime import control
from realtime.fanout import Fanout
from realtime.membership import Membership
from realtime.protocol import CLOSE_FORBIDDEN
from realtime.registry import Registry
from realtime.rooms.base import HubContext, RoomEvent, RoomKind
from realtime.subscriptions import resolve

log = logging.getLogger("readalong.hub")


class Node(Protocol):
    """The parts of the node a control message acts on."""

    node_id: str
    kinds: dict[str, RoomKind]
    registry: Registry
    fanout: Fanout
    membership: Membership | None

    def _close(self, conn: Any, code: int, reason: str | None = None) -> None: ...


class ControlHandler:
    """Applies control messages in arrival order: viewer changes synchronously (so they hold
    before the next room event), the rest in tasks."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._tasks: set[asyncio.Task[Any]] = set()

    def reader_changed(self, room: str, user_id: int,
                       changes: dict[str, Any]) -> control.ReaderChanged:
        msg = control.ReaderChanged(room=room, user_id=user_id, origin=self.node.node_id)
        for key in ("progress", "shield"):
            if key in changes:
                setattr(msg, key, changes[key])
        if "hidden_authors" in changes:
            msg.hidden_authors = sorted(changes["hidden_authors"])
        return msg

    def on_control(self, data: bytes) -> None:
        msg = control.decode(data)
        node = self.node
        match msg:
            case control.ReaderChanged(room=room, user_id=user_id, origin=origin):
                if origin != node.node_id:
                    changes = msg.changes()
                    for conn in node.registry.of_user(user_id, room):
                        node.registry.update_viewer(conn.conn_id, room, changes)
            case control.ReaderEvents(room=room, user_id=user_id, origin=origin, events=events):
                if origin != node.node_id:
                    for conn in node.registry.of_user(user_id, room):
                        node.fanout.send_to(conn.conn_id, room, events)
            case control.Revoke(user_id=user_id, family=family):
                for conn in node.registry.of_user(user_id):
                    if family is None or (conn.principal is not None
                                          and conn.principal.family == family):
                        node._close(conn, CLOSE_FORBIDDEN, "session revoked")
            case control.Evict(room=room, user_id=user_id, event=event):
                ev = RoomEvent(event.event, dict(event.data)) if event is not None \
                    else RoomEvent("kicked", {"user_id": user_id})
                # now, before the room's next message on this channel: the event, then
                # nothing more (the subscriptions are closed); leaving the room is a task
                self._spawn(self._evict(room, self._close_subs(room, user_id, ev)))
            case control.Reshield(room=room):
                if room in node.registry.rooms:
                    try:  # before the room's next event, which may follow on this channel
                        resolve(node.kinds, room)[0].reshield_now(node, room)  # type: ignore[arg-type]
                    except Exception:
                        log.warning("hub: reshield of %s failed", room, exc_info=True)
                self._spawn(self._reshield(room))
            case None:
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_subs(self, room: str, user_id: int, event: RoomEvent) -> list[Any]:
        """Send `event` to the user's local sockets in `room` and close those subscriptions
        (no later event of the room reaches them); the sockets to take out of the room."""
        node = self.node
        conns = node.registry.of_user(user_id, room)
        for conn in conns:
            try:
                node.fanout.send_to(conn.conn_id, room, [event])
            except Exception:
                log.debug("hub: evicting %s (user %s) from %s failed", conn.conn_id, user_id,
                          room, exc_info=True)
            sub = conn.subs.get(room)
            if sub is not None:
                sub.close()
        return conns

    async def _evict(self, room: str, conns: list[Any]) -> None:
        """Take the evicted sockets out of `room` (presence, the room's channel, its kind)."""
        node = self.node
        for conn in conns:
            try:
                if node.membership is not None:
                    await node.membership.leave(conn, room)
            except Exception:
                log.debug("hub: evicting %s from %s failed", conn.conn_id, room, exc_info=True)

    async def _reshield(self, room: str) -> None:
        node = self.node
        if room not in node.registry.rooms:
            return
        try:
            kind, _ = resolve(node.kinds, room)
            ctx: HubContext = node  # type: ignore[assignment]
            await kind.on_reshield(ctx, room)
        except DomainError:
            log.info("hub: reshield of %s: the room is gone", room, exc_info=True)
        except Exception:
            log.warning("hub: reshield of %s failed", room, exc_info=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
