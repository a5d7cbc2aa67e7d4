"""The AsyncAPI 3 description of the WebSocket protocol, generated from the msgspec Structs."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.discussion.events import SESSION_EVENTS
from realtime.commands import COMMANDS
from realtime.events import EVENTS, SubscribeResult
from realtime.protocol import CLOSE_REASONS, SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK


def _name(cls: type) -> str:
    return cls.__name__


def asyncapi_document(server_url: str = "ws://127.0.0.1:8000") -> dict[str, Any]:
    """Build the document (pure; the app caches the result)."""
    types = [*COMMANDS, *EVENTS, SubscribeResult, *SESSION_EVENTS]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    messages: dict[str, Any] = {}
    for cls in (*COMMANDS, *EVENTS):
        tag = cls.__struct_config__.tag
        direction = "client" if cls in COMMANDS else "server"
        key = f"{direction}_{tag}"
        messages[key] = {
            "name": tag,
            "title": f"{tag} ({'client -> server' if direction == 'client' else 'server -> client'})",
            "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else tag,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{_name(cls)}"},
        }
    for cls in SESSION_EVENTS:  # what rides in `event` frames of session rooms (event + data)
        tag = str(cls.__struct_config__.tag)
        messages[f"session_{tag}"] = {
            "name": f"session.{tag}",
            "title": f"session room event `{tag}` (server -> client, inside an `event` frame)",
            "summary": (cls.__doc__ or tag).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{_name(cls)}"},
        }
    close_codes = "\n".join(f"- `{code}`: {reason}" for code, reason in sorted(CLOSE_REASONS.items()))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Readalong realtime protocol",
            "version": "1",
            "description": (
                "One WebSocket endpoint, `/ws`. Subprotocol `" + SUBPROTOCOL_JSON + "` (JSON text "
                "frames) or `" + SUBPROTOCOL_MSGPACK + "` (the same messages as MessagePack "
                "binary frames). Authenticate with an `auth` frame first or an extra subprotocol "
                "entry `bearer.<access token>`; never in the URL. Every command carries an `id` "
                "and is answered by `ack` or `error` with that id.\n\nClose codes:\n" + close_codes
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": server_url.split("://", 1)[-1], "protocol": "ws",
                      "pathname": "/ws"},
        },
        "channels": {
            "ws": {
                "address": "/ws",
                "title": "The hub socket",
                "messages": messages,
            }
        },
        "operations": {
            "sendCommand": {
                "action": "receive",
                "channel": {"$ref": "#/channels/ws"},
                "summary": "Commands a client sends (the server receives)",
                "messages": [{"$ref": f"#/channels/ws/messages/client_{c.__struct_config__.tag}"}
                             for c in COMMANDS],
            },
            "receiveEvent": {
                "action": "send",
                "channel": {"$ref": "#/channels/ws"},
                "summary": "Frames the server sends",
                "messages": [{"$ref": f"#/channels/ws/messages/server_{c.__struct_config__.tag}"}
                             for c in EVENTS] + [
                    {"$ref": f"#/channels/ws/messages/session_{c.__struct_config__.tag}"}
                    for c in SESSION_EVENTS],
            },
        },
        "components": {"schemas": components},
    }
