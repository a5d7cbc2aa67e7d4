"""`lobby:<slug>`: public chat-like rooms with history and presence; ephemeral (not in Postgres)."""

from __future__ import annotations

import time
from typing import Any

from domain.rooms import authorize_lobby, lobby_message
from realtime.rooms.base import (
    DEFAULT_VIEWER,
    ConnectionInfo,
    HubContext,
    RoomEvent,
    RoomKind,
    Viewer,
)


class LobbyRoom(RoomKind):
    prefix = "lobby"
    keeps_history = True
    accepts_publish = True
    presence = True

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        authorize_lobby(conn.user_id, room_id)
        return DEFAULT_VIEWER

    async def on_publish(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                         data: dict[str, Any]) -> tuple[list[RoomEvent], dict[str, Any]]:
        text = lobby_message(data)
        event = RoomEvent("chat", {"text": text, "user_id": conn.user_id,
                                   "name": conn.display_name, "at": round(time.time(), 3)},
                          author_id=conn.user_id)
        return [event], {}
