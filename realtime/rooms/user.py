"""`user:<id>`: one user's private channel (notifications and the like); only the server writes."""

from __future__ import annotations

from domain.rooms import authorize_user_room
from realtime.rooms.base import DEFAULT_VIEWER, ConnectionInfo, HubContext, RoomKind, Viewer


class UserRoom(RoomKind):
    prefix = "user"
    keeps_history = True
    accepts_publish = False
    presence = False
    uses_names = False

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        authorize_user_room(conn.user_id, room_id)
        return DEFAULT_VIEWER
