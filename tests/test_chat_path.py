"""The chat path over the socket, as a writer sees it: commands decoded as the one Struct their
`type` names still answer bad input with the same `error` code, field and text; a chat reads the
session and the writer in one statement and still follows every rule (gate at the furthest
read from any source, idempotent resend, mute, lock, end)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.errors import Invalid
from realtime.rooms.discussion_commands import Chat, DiscussionCommand, React, decode
from realtime.rooms.session.commands import PresenceMeta, SessionCommand, Shield
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users

BAD = [  # (publish.data, code, field, text after "bad session command: ")
    ({"type": "chat", "body": 5}, "invalid_payload", "body",
     "Expected `str`, got `int` - at `$.body`"),
    ({"type": "chat"}, "invalid_payload", None, "Object missing required field `body`"),
    ({"type": "chat", "body": "x", "extra": 1}, "invalid_payload", None,
     "Object contains unknown field `extra`"),
    ({"type": "chat", "body": "x", "parent_id": 0}, "invalid", "parent_id",
     "Expected `int` >= 1 - at `$.parent_id`"),
    ({"type": "chat", "body": "x", "idempotency_key": ""}, "invalid_payload",
     "idempotency_key", "Expected `str` of length >= 1 - at `$.idempotency_key`"),
    ({"type": "react", "emoji": "x", "position": {"progression": "a", "locator": "l"}},
     "invalid_position", "position.progression",
     "Expected `float`, got `str` - at `$.position.progression`"),
    ({"type": "annotate", "selectors": [{"type": "Bad"}]}, "invalid_payload",
     "selectors[0].type", "Invalid value 'Bad' - at `$.selectors[0].type`"),
    ({"type": "chat_edit", "message_id": -1, "body": "x"}, "invalid", "message_id",
     "Expected `int` >= 1 - at `$.message_id`"),
    ({"type": "shield", "enabled": "x"}, "invalid_payload", "enabled",
     "Expected `bool | null`, got `str` - at `$.enabled`"),
    ({"type": "explode"}, "invalid_payload", "type", "Invalid value 'explode' - at `$.type`"),
    ({"type": 5}, "invalid_payload", "type", "Expected `str`, got `int` - at `$.type`"),
    ({"type": ["chat"]}, "invalid_payload", "type",
     "Expected `str`, got `list` - at `$.type`"),
    ({}, "invalid_payload", None, "Object missing required field `type`"),
]


@pytest.mark.parametrize(("data", "code", "field", "text"), BAD)
def test_a_bad_command_names_its_field_as_before(data: dict[str, Any], code: str,
                                                  field: str | None, text: str) -> None:
    """Each bad `publish.data` gets the `error` code, field and message the union gave."""
    with pytest.raises(Invalid) as got:
        decode(data, SessionCommand, "session command")
    assert (got.value.code, got.value.field, str(got.value)) == (
        code, field, f"bad session command: {text}")


def test_good_commands_decode_to_their_struct() -> None:
    """A chat, a reaction, a shield change and a presence meta come out as their Structs."""
    assert decode({"type": "chat", "body": "hi", "idempotency_key": "k"}, SessionCommand,
                  "c") == Chat(body="hi", idempotency_key="k")
    react = decode({"type": "react", "emoji": "🔥", "message_id": 3}, DiscussionCommand, "c")
    assert isinstance(react, React) and react.message_id == 3
    assert decode({"type": "shield", "enabled": None}, SessionCommand, "c") == Shield(None)
    meta = decode({"state": "idle"}, PresenceMeta, "presence meta")
    assert meta == PresenceMeta(state="idle")
    with pytest.raises(Invalid) as got:
        decode({"position": {"progression": "far"}}, PresenceMeta, "presence meta")
    assert (got.value.code, got.value.field) == ("invalid_position", "position.progression")


async def test_chat_follows_every_rule_over_the_socket(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """Over the socket a chat is gated at the writer's furthest from any source (a move, a REST
    progress update), a resent key answers the first message, a mute, the chat lock and the
    end refuse it with their codes, and the host still writes under the lock."""
    host, writer = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Chat path {unique}")
    s = await live_session(http, host, book)
    room, sid = s["room"], s["id"]
    url = f"/api/v1/sessions/{sid}"
    async with WS(server.ws_url, writer.access_token) as w, \
            WS(server.ws_url, host.access_token) as h:
        assert (await w.subscribe(room))["type"] == "ack"
        assert (await h.subscribe(room))["type"] == "ack"
        assert (await w.move(room, 0.4))["type"] == "ack"
        first = await w.publish(room, {"type": "chat", "body": "at 40", "idempotency_key": "k1"})
        assert first["type"] == "ack" and first["result"]["gate"] == pytest.approx(0.4), first
        seen = await h.wait(lambda f: f.get("event") == "chat"
                            and f["data"]["id"] == first["result"]["message_id"])
        assert seen["data"]["body"] is None  # the host is behind it: redacted
        r = await http.post(f"/api/v1/me/books/{book}/progress", headers=writer.headers,
                            json={"progression": 0.7})
        assert r.status_code == 200, r.text
        later = await w.publish(room, {"type": "chat", "body": "read on at home"})
        assert later["result"]["gate"] >= 0.7, later
        again = await w.publish(room, {"type": "chat", "body": "at 40", "idempotency_key": "k1"})
        assert again["result"]["message_id"] == first["result"]["message_id"]
        assert again["result"]["replayed"] is True
        assert again["result"]["gate"] == pytest.approx(0.4)
        page = (await http.get(f"{url}/messages", headers=host.headers)).json()
        assert [m["id"] for m in page["items"]].count(first["result"]["message_id"]) == 1
        r = await http.post(f"{url}/participants/{writer.id}/mute", headers=host.headers)
        assert r.status_code in (200, 204), r.text
        err = await w.publish(room, {"type": "chat", "body": "muted"})
        assert err["type"] == "error" and err["code"] == "muted", err
        assert (await w.publish(room, {"type": "react", "emoji": "🔥", "message_id":
                                       first["result"]["message_id"]}))["type"] == "ack"
        await http.delete(f"{url}/participants/{writer.id}/mute", headers=host.headers)
        await http.patch(url, json={"chat_locked": True}, headers=host.headers)
        err = await w.publish(room, {"type": "chat", "body": "locked"})
        assert err["type"] == "error" and err["code"] == "chat_locked", err
        assert (await h.publish(room, {"type": "chat", "body": "host"}))["type"] == "ack"
        assert (await http.post(f"{url}/end", headers=host.headers)).status_code == 200
        err = await w.publish(room, {"type": "chat", "body": "after"})
        assert err["type"] == "error" and err["code"] == "session_ended", err


async def test_reactions_and_notes_come_back_whole_from_their_one_statement(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reaction's ack counts itself and the ones before it (and a resend counts nothing
    twice); the room's event carries the same count; a note comes back with its selectors and
    a resent note key answers the first note."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"React path {unique}")
    room = (await live_session(http, host, book))["room"]
    spot = {"progression": 0.1, "locator": "epubcfi(/6/2)"}
    async with WS(server.ws_url, a.access_token) as wa, WS(server.ws_url, b.access_token) as wb:
        await wa.subscribe(room)
        await wb.subscribe(room)
        await wa.move(room, 0.5)
        await wb.move(room, 0.5)
        one = await wa.publish(room, {"type": "react", "emoji": "🔥", "position": spot,
                                      "idempotency_key": "r1"})
        assert one["type"] == "ack" and one["result"]["count"] == 1, one
        two = await wb.publish(room, {"type": "react", "emoji": "🔥", "position": spot})
        assert two["result"]["count"] == 2, two
        seen = await wa.wait(lambda f: f.get("event") == "reaction"
                             and f["data"]["id"] == two["result"]["reaction_id"])
        assert seen["data"]["count"] == 2 and seen["data"]["emoji"] == "🔥"
        again = await wa.publish(room, {"type": "react", "emoji": "🔥", "position": spot,
                                        "idempotency_key": "r1"})
        assert again["result"] == {**again["result"], "reaction_id":
                                   one["result"]["reaction_id"], "count": 2, "replayed": True}
        note = {"type": "annotate", "note": "look", "idempotency_key": "n1", "selectors": [
            {"type": "ProgressionSelector", "start": 0.2, "end": 0.25},
            {"type": "TextQuoteSelector", "exact": "the quote"}]}
        first = await wa.publish(room, note)
        assert first["type"] == "ack" and first["result"]["gate"] == pytest.approx(0.5), first
        ev = await wb.wait(lambda f: f.get("event") == "annotation"
                           and f["data"]["id"] == first["result"]["annotation_id"])
        assert ev["data"]["quote"] == "the quote" and ev["data"]["note"] == "look"
        assert ev["data"]["selectors"][0]["type"] == "ProgressionSelector"
        resent = await wa.publish(room, note)
        assert resent["result"]["annotation_id"] == first["result"]["annotation_id"]
        assert resent["result"]["replayed"] is True
