"""Who may enter the hub's own room kinds (`user:`, `lobby:`, `leaderboard:`) and what lobby
messages may contain. Pure rules: the realtime room kinds call these."""

from __future__ import annotations

import re
from typing import Any

from domain.errors import Forbidden, Invalid

LOBBY_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LEADERBOARD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
LOBBY_TEXT_MAX = 1000


def authorize_user_room(user_id: int, room_id: str) -> None:
    """`user:<id>` carries one user's private events: only that user may subscribe."""
    if not room_id.isdigit() or int(room_id) != user_id:
        raise Forbidden("you can only subscribe to your own user room", code="room_forbidden",
                        field="room")


def authorize_lobby(user_id: int, room_id: str) -> None:
    """`lobby:<slug>` is public to every authenticated user."""
    if not LOBBY_SLUG.match(room_id):
        raise Invalid("a lobby slug is 1-64 of a-z, 0-9, '-' and '_'", code="bad_room",
                      field="room")


def authorize_leaderboard(user_id: int, room_id: str) -> None:
    """`leaderboard:<key>` may be watched by anyone; only the server publishes into it."""
    if not LEADERBOARD_KEY.match(room_id):
        raise Invalid("bad leaderboard key", code="bad_room", field="room")


def lobby_message(data: dict[str, Any]) -> str:
    """Validate a lobby chat payload `{"text": "..."}` and return the normalised text."""
    extra = set(data) - {"text"}
    if extra:
        raise Invalid(f"unknown field(s): {', '.join(sorted(extra))}", field="data")
    text = data.get("text")
    if not isinstance(text, str):
        raise Invalid("text is required and must be a string", field="data.text")
    text = text.strip()
    if not text:
        raise Invalid("text must not be empty", field="data.text")
    if len(text) > LOBBY_TEXT_MAX:
        raise Invalid(f"text is limited to {LOBBY_TEXT_MAX} characters", code="too_long",
                      field="data.text")
    return text
