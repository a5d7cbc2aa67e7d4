"""Server -> client frames: a closed union of tagged msgspec Structs (tag field `type`)."""

from __future__ import annotations

from typing import Any

import msgspec

from realtime.wire import Member


class Welcome(msgspec.Struct, tag="welcome", tag_field="type"):
    """Sent after a successful `auth`; `expires_at` is the token's expiry (epoch seconds)."""

    node: str
    user_id: int
    expires_at: int
    id: str | None = None


class Ack(msgspec.Struct, tag="ack", tag_field="type"):
    """The answer to a command that succeeded."""

    id: str
    result: dict[str, Any] = {}


class Error(msgspec.Struct, tag="error", tag_field="type"):
    """The answer to a command that failed; `code` is stable, `id` is null if unparseable."""

    id: str | None
    code: str
    message: str
    field: str | None = None
    retry_after: float | None = None


class Event(msgspec.Struct, tag="event", tag_field="type", omit_defaults=True):
    """A room event; `epoch`/`offset` only for rooms that keep history."""

    room: str
    event: str
    data: Any
    epoch: str | None = None
    offset: int | None = None


class Presence(msgspec.Struct, tag="presence", tag_field="type"):
    """A presence diff for a room."""

    room: str
    joined: list[Member] = []
    left: list[int] = []
    updated: list[Member] = []


class Reauth(msgspec.Struct, tag="reauth", tag_field="type"):
    """The access token expires at `expires_at`: send `auth` with a fresh one before then."""

    expires_at: int


class SubscribeResult(msgspec.Struct):
    """The `result` of a `subscribe` ack (documented shape)."""

    room: str
    epoch: str | None
    offset: int | None
    recovered: bool
    presence: list[Member]  # at most READALONG_PRESENCE_SNAPSHOT_MAX (200), always with you
    presence_total: int = 0  # members in the room (0 for rooms without presence)


ServerFrame = Welcome | Ack | Error | Event | Presence | Reauth
EVENTS: tuple[type[msgspec.Struct], ...] = (Welcome, Ack, Error, Event, Presence, Reauth)
