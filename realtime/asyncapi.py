"""The AsyncAPI 3 description of the WebSocket protocol, generated from the msgspec Structs."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from domain.reading.board_events import USER_ROOM_EVENTS
from realtime.commands import COMMANDS
from realtime.control import CONTROLS
from realtime.events import EVENTS, SubscribeResult
from realtime.protocol import CLOSE_REASONS, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

SCHEMAS = "#/components/schemas/{name}"


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else cls.__name__


def _tag(cls: Any) -> str:
    tag = cls.__struct_config__.tag
    return str(tag) if tag is not None else str(cls.__name__)


def _members(union: Any) -> list[Any]:
    """The Structs of a union type (or of a tuple of them, or the one Struct given)."""
    if isinstance(union, (tuple, list)):
        return list(union)
    args = typing.get_args(union)
    return list(args) if args else [union]


def _message(cls: Any, title: str) -> dict[str, Any]:
    return {"name": _tag(cls), "title": title, "summary": _summary(cls),
            "contentType": "application/json",
            "payload": {"$ref": SCHEMAS.format(name=cls.__name__)}}


def asyncapi_document(server_url: str = "ws://127.0.0.1:8000",
                      room_events: Mapping[str, Any] | None = None,
                      room_commands: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the document (pure; the app caches the result).

    `room_events` maps a room kind's prefix to the union of the events it publishes (its
    `RoomKind.events`); each event is listed as the `data` of an `event` frame in that room.
    `room_commands` likewise maps a prefix to the union clients `publish` (`RoomKind.commands`)."""
    room_events = dict(room_events or {})
    if "leaderboard" in room_events:  # the leaderboard kind also sends each reader's rank
        room_events["user"] = (*_members(room_events.get("user") or ()),
                               *_members(USER_ROOM_EVENTS))
    room_commands = dict(room_commands or {})
    types: list[Any] = [*COMMANDS, *EVENTS, SubscribeResult, *CONTROLS]
    for union in [*room_events.values(), *room_commands.values()]:
        types.extend(_members(union))
    _, components = msgspec.json.schema_components(types, ref_template=SCHEMAS)
    messages: dict[str, Any] = {}
    for cls in COMMANDS:
        messages[f"client_{_tag(cls)}"] = _message(cls, f"{_tag(cls)} (client -> server)")
    for cls in EVENTS:
        messages[f"server_{_tag(cls)}"] = _message(cls, f"{_tag(cls)} (server -> client)")
    room_messages: dict[str, Any] = {}
    for prefix, union in sorted(room_events.items()):
        for cls in _members(union):
            room_messages[f"{prefix}_{_tag(cls)}"] = _message(
                cls, f"`{_tag(cls)}` in `{prefix}:<id>` (the `data` of an `event` frame)")
    publish_messages: dict[str, Any] = {}
    for prefix, union in sorted(room_commands.items()):
        for cls in _members(union):
            publish_messages[f"{prefix}_publish_{_tag(cls)}"] = _message(
                cls, f"`{_tag(cls)}` into `{prefix}:<id>` (the `data` of a `publish` command)")
    control = {f"control_{_tag(c)}": _message(c, f"{_tag(c)} (node -> every node)")
               for c in CONTROLS}
    close_codes = "\n".join(f"- `{code}`: {reason}"
                            for code, reason in sorted(CLOSE_REASONS.items()))
    channels: dict[str, Any] = {
        "ws": {"address": "/ws", "title": "The hub socket", "messages": messages},
        "control": {"address": "ra:ctl", "servers": [{"$ref": "#/servers/redis"}],
                    "title": "Between nodes: the one control channel (Redis pub/sub, JSON)",
                    "messages": control},
    }
    if publish_messages:
        channels["roomCommands"] = {"address": "/ws", "title": "Publish payloads per room kind",
                                    "messages": publish_messages}
    if room_messages:
        channels["rooms"] = {"address": "/ws", "title": "Room events per room kind",
                             "messages": room_messages}
    operations: dict[str, Any] = {
        "sendCommand": {
            "action": "receive", "channel": {"$ref": "#/channels/ws"},
            "summary": "Commands a client sends (the server receives)",
            "messages": [{"$ref": f"#/channels/ws/messages/client_{_tag(c)}"}
                         for c in COMMANDS]},
        "receiveEvent": {
            "action": "send", "channel": {"$ref": "#/channels/ws"},
            "summary": "Frames the server sends",
            "messages": [{"$ref": f"#/channels/ws/messages/server_{_tag(c)}"} for c in EVENTS]},
        "control": {
            "action": "send", "channel": {"$ref": "#/channels/control"},
            "summary": "What one node tells every node (never sent to clients)",
            "messages": [{"$ref": f"#/channels/control/messages/{k}"} for k in control]},
    }
    if publish_messages:
        operations["roomCommand"] = {
            "action": "receive", "channel": {"$ref": "#/channels/roomCommands"},
            "summary": "What clients publish into each room kind that documents it",
            "messages": [{"$ref": f"#/channels/roomCommands/messages/{k}"}
                         for k in publish_messages]}
    if room_messages:
        operations["roomEvent"] = {
            "action": "send", "channel": {"$ref": "#/channels/rooms"},
            "summary": "The events each room kind publishes",
            "messages": [{"$ref": f"#/channels/rooms/messages/{k}"} for k in room_messages]}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Readalong realtime protocol",
            "version": "1",
            "description": (
                "One WebSocket endpoint, `/ws`. Subprotocol `" + SUBPROTOCOL_JSON + "` (JSON "
                "text frames) or `" + SUBPROTOCOL_MSGPACK + "` (the same messages as "
                "MessagePack binary frames). Authenticate with an `auth` frame first or an "
                "extra subprotocol entry `bearer.<access token>`; never in the URL. Every "
                "command carries an `id` and is answered by `ack` or `error` with that id."
                "\n\nOrdering: the commands of one socket run one at a time, in the order "
                "sent, and are answered in that order; an `error` that needs no work (a frame "
                "that does not decode, `rate_limited`, `overloaded`) is sent at once and may "
                "arrive before the answers of earlier commands. Past `READALONG_WS_MAX_PENDING` "
                "(default 32) commands not answered yet on one socket, the next is answered "
                "`error` with code `overloaded` and `retry_after` (seconds): send it again "
                "then; the socket stays open."
                "\n\nClose codes:\n" + close_codes),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": server_url.split("://", 1)[-1], "protocol": "ws",
                      "pathname": "/ws"},
            "redis": {"host": "redis", "protocol": "redis",
                      "description": "The Redis the nodes share (not reachable by clients)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components},
    }
