"""The AsyncAPI document is generated from the msgspec unions: commands, frames, control
messages and (through `RoomKind.events`) each room kind's events with their payloads."""

from __future__ import annotations

import msgspec

from realtime.asyncapi import asyncapi_document
from realtime.control import CONTROLS


class Posted(msgspec.Struct, tag="posted", tag_field="event"):
    """A message was posted."""

    id: int
    body: str | None


class Cleared(msgspec.Struct, tag="cleared", tag_field="event"):
    """The board was cleared."""

    by: int


def test_every_control_message_is_documented() -> None:
    """Each member of the control union appears with a payload schema."""
    doc = asyncapi_document()
    messages = doc["channels"]["control"]["messages"]
    assert sorted(messages) == sorted(f"control_{c.__struct_config__.tag}" for c in CONTROLS)
    for message in messages.values():
        name = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert name in doc["components"]["schemas"]
    assert "rooms" not in doc["channels"]  # no room kind declared its events


def test_a_room_kinds_event_union_is_listed_with_its_payloads() -> None:
    """A kind's `events` union becomes one message per event, each with its fields."""
    doc = asyncapi_document(room_events={"board": Posted | Cleared})
    messages = doc["channels"]["rooms"]["messages"]
    assert set(messages) == {"board_posted", "board_cleared"}
    assert messages["board_posted"]["summary"] == "A message was posted."
    schema = doc["components"]["schemas"]["Posted"]
    assert set(schema["properties"]) >= {"id", "body"}
    refs = [m["$ref"] for m in doc["operations"]["roomEvent"]["messages"]]
    assert "#/channels/rooms/messages/board_cleared" in refs
