"""What a room kind plugs into: RoomKind, RoomEvent, Viewer, ConnectionInfo, the HubContext API."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

# Which variant of an event a viewer gets (see `variant_for`): the shield's own values.
from domain.discussion.spoilers import FULL as FULL
from domain.discussion.spoilers import REDACTED as REDACTED
from domain.discussion.spoilers import SKIP as SKIP
from domain.discussion.spoilers import variant
from domain.errors import Forbidden, Invalid


class RoomEvent(msgspec.Struct):
    """One event for a room. `redacted` + `gate` give the spoiler-shielded variant; `author_id`
    lets viewers who hide that author skip it; `target_user_ids` limits delivery to those users.

    History only (never sent to clients): `key` names the stored event (e.g. "chat:12"; several
    events may share one, e.g. a message and its edits) and `retracts` removes every stored
    event with that key from the room's history, atomically with storing this one (e.g. a
    `chat_deleted` event with `retracts="chat:12"`): replay then skips their offsets.

    `live_only` events go to whoever is subscribed now and are never stored, even in a room
    that keeps history (no offset, not replayed): for state that REST serves and of which only
    the latest matters (a reader's leaderboard rank), so it neither fills the room's history
    in Redis nor pushes replayable events out of it."""

    event: str
    data: dict[str, Any]
    redacted: dict[str, Any] | None = None
    gate: float | None = None
    author_id: int | None = None
    target_user_ids: list[int] | None = None
    key: str | None = None
    retracts: str | None = None
    live_only: bool = False


class Viewer(msgspec.Struct, frozen=True):
    """The per-connection, per-room state that decides which variant of an event it receives."""

    progress: float | None = None
    shield: bool = False
    hidden_authors: frozenset[int] = frozenset()


DEFAULT_VIEWER = Viewer()

MAX_META_BYTES = 2048  # a member's presence meta, encoded


def encode_meta(meta: dict[str, Any]) -> bytes:
    """Presence meta as a member stores it (JSON), or `Invalid` past MAX_META_BYTES."""
    raw = orjson.dumps(meta)
    if len(raw) > MAX_META_BYTES:
        raise Invalid(f"presence meta is limited to {MAX_META_BYTES} bytes", field="meta")
    return raw


class MetaStored(msgspec.Struct, frozen=True):
    """What `on_presence` returns when it stored the meta itself (in its own Redis round trip,
    through `encode_meta`): the meta and the member as stored (JSON; None: the
    connection has no member)."""

    meta: dict[str, Any]
    member: bytes | None


class ConnectionInfo(msgspec.Struct, frozen=True):
    """Who is on a connection, as room kinds see it."""

    user_id: int
    role: str
    display_name: str
    conn_id: str
    node_id: str


def variant_for(viewer: Viewer, user_id: int, *, redacted: bool, gate: float | None,
                author_id: int | None, targets: list[int] | frozenset[int] | None) -> int:
    """SKIP, FULL or REDACTED for one viewer: recipient targets here, the rest is the shield's
    one rule (`domain.discussion.spoilers.variant`)."""
    if targets is not None and user_id not in targets:
        return SKIP
    return variant(user_id, viewer.progress, viewer.shield, viewer.hidden_authors, author_id,
                   gate, redacted)


class HubContext:
    """The hub as room kinds see it (implemented by `realtime.node.Hub`)."""

    node_id: str

    def update_viewer(self, conn_id: str, room: str, *, progress: float | None = ...,
                      shield: bool = ..., hidden_authors: frozenset[int] = ...) -> None:
        """Change a subscribed connection's Viewer in `room` (only the given fields)."""
        raise NotImplementedError

    async def send_to(self, conn_id: str, room: str, events: list[RoomEvent],
                      offset: int | None = None) -> None:
        """Send `events` (FULL variant, recipient filters still apply) to one local connection,
        as `event` frames of `room`; `offset` is put on them when given."""
        raise NotImplementedError

    async def publish(self, room: str, event: RoomEvent) -> tuple[str, int] | None:
        """Store (if the room keeps history), number and fan out one event; (epoch, offset)."""
        raise NotImplementedError

    async def broadcast(self, room: str, event: RoomEvent) -> None:
        """Fan an ephemeral event out to the room on every node, never stored (e.g. typing)."""
        raise NotImplementedError

    async def update_reader(self, room: str, user_id: int, **changes: Any) -> None:
        """Change `user_id`'s Viewer (`progress`, `shield`, `hidden_authors`) on every connection
        of theirs in `room`, on every node (here at once, elsewhere before any later event)."""
        raise NotImplementedError

    async def send_to_reader(self, room: str, user_id: int, events: list[RoomEvent]) -> None:
        """`send_to` every connection of `user_id` in `room`, on every node."""
        raise NotImplementedError

    def local_readers(self, room: str) -> dict[int, list[str]]:
        """This node's connection ids subscribed to `room`, per user."""
        raise NotImplementedError

    def update_local_reader(self, room: str, user_id: int, **changes: Any) -> None:
        """`update_viewer` on every connection of `user_id` in `room` on this node only."""
        for tab in self.local_readers(room).get(user_id, ()):
            self.update_viewer(tab, room, **changes)

    async def evict(self, room: str, user_id: int, event: RoomEvent | None = None) -> None:
        """Send `event` (default `kicked`) to the user's sockets in `room` on every node, then
        unsubscribe them (the sockets stay open)."""
        raise NotImplementedError


class RoomKind:
    """Base of every room kind. Subclass, set `prefix`, and `hub.register(MyRoom(...))`."""

    prefix: str = ""
    keeps_history: bool = True
    accepts_publish: bool = False
    presence: bool = True  # keep a member list (snapshot on subscribe, join/leave/update diffs)
    # whether access to its rooms can be withdrawn from subscribed readers (`realtime.access`):
    # a subscribe then checks again if a withdrawal happened while it was setting up
    guarded: bool = False
    # whether it shows `ConnectionInfo.display_name` (presence kinds always do): a socket's name
    # is looked up on its first subscribe to such a room, not at auth (realtime/auth.py)
    uses_names: bool = True
    # The closed union of the events this kind publishes (msgspec Structs with a tag), e.g.
    # `SessionEvent = ChatPosted | ChatEdited | ...`: /asyncapi.json lists each with its payload.
    events: Any = None
    # The closed union of what clients may `publish` into it (`data`, tagged by `type`), if it
    # documents one: /asyncapi.json lists each.
    commands: Any = None

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        """Raise DomainError to refuse; return the viewer state for this connection in the room."""
        raise NotImplementedError

    async def on_publish(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                         data: dict[str, Any]) -> tuple[list[RoomEvent], dict[str, Any]]:
        """Validate, persist durable things FIRST, return (events to publish, ack result)."""
        raise Forbidden("clients cannot publish into this room", code="publish_forbidden")

    async def on_presence(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                          meta: dict[str, Any]) -> dict[str, Any] | MetaStored:
        """Validate/normalise presence meta; may also publish events (e.g. follow-mode moves).
        The hub stores the returned meta in the member, unless it is `MetaStored`."""
        return meta

    def initial_meta(self, conn: ConnectionInfo, room_id: str) -> dict[str, Any] | None:
        """Presence meta for the user's member when this connection is their first in the room
        (called right after `authorize`); None: empty meta."""
        return None

    async def on_leave(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> None:
        """Called when a connection leaves the room (unsubscribe or disconnect)."""
        return

    async def on_reshield(self, hub: HubContext, room: str) -> None:
        """The room's shield default changed (a `Reshield` control message, on every node that
        has local readers in `room`): re-read and apply their viewer state."""
        return

    def reshield_now(self, hub: HubContext, room: str) -> None:
        """(No await) what must hold before the room's next event is fanned out, while
        `on_reshield` re-reads (e.g. hide more until then, never less)."""
        return
