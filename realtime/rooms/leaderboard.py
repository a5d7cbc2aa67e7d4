"""`leaderboard:<key>`: anyone may watch; only the server publishes (no history, no presence)."""

from __future__ import annotations

from domain.rooms import authorize_leaderboard
from realtime.rooms.base import DEFAULT_VIEWER, ConnectionInfo, HubContext, RoomKind, Viewer


class LeaderboardRoom(RoomKind):
    prefix = "leaderboard"
    keeps_history = False
    accepts_publish = False
    presence = False

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        authorize_leaderboard(conn.user_id, room_id)
        return DEFAULT_VIEWER
