"""Former home of the session use-cases, now split per aggregate; re-exports for this round."""

from __future__ import annotations

from domain.sessions.admission import may_see
from domain.sessions.positions import set_shield
from domain.sessions.rows import fetch_session, room_of
from domain.sessions.sessions import parse_cursor

__all__ = ["fetch_session", "may_see", "parse_cursor", "room_of", "set_shield"]
