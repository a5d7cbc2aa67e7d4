"""Hub history and recovery: resubscribing with `since` (on any node) gets exactly the missed
events in order, then live ones; too old or another epoch gets `recovered: false`."""

from __future__ import annotations

import asyncio

import pytest

from realtime.publisher import Publisher
from realtime.rooms.base import RoomEvent
from tests.hub_support import Client, new_user
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def nodes(hub_nodes: list[ServerProcess]) -> list[ServerProcess]:
    """The session's two hub nodes (tests/conftest.py)."""
    return hub_nodes


async def test_recover_missed_events_on_the_other_node(nodes: list[ServerProcess]) -> None:
    """A reader that left node A and comes back on node B with `since` gets exactly the events
    it missed, in order, then live events without duplicates."""
    room = f"lobby:r{new_user()}"
    writer = await Client.login(nodes[1].ws_url, new_user())
    reader = await Client.login(nodes[0].ws_url, new_user())
    await writer.ok("subscribe", room=room)
    await reader.ok("subscribe", room=room)
    for text in ("one", "two"):
        await writer.ok("publish", room=room, data={"text": text})
    seen = await reader.events(room, 2)
    last = seen[-1]
    await reader.close()
    for text in ("three", "four", "five"):
        await writer.ok("publish", room=room, data={"text": text})
    back = await Client.login(nodes[1].ws_url, reader.welcome["user_id"])  # type: ignore[index]
    result = await back.ok("subscribe", room=room,
                           since={"epoch": last["epoch"], "offset": last["offset"]})
    assert result["recovered"] is True and result["epoch"] == last["epoch"]
    missed = await back.events(room, 3)
    assert [e["data"]["text"] for e in missed] == ["three", "four", "five"]
    assert [e["offset"] for e in missed] == [last["offset"] + 1, last["offset"] + 2,
                                             last["offset"] + 3]
    await writer.ok("publish", room=room, data={"text": "six"})
    live = await back.events(room, 1)
    assert live[0]["data"]["text"] == "six" and live[0]["offset"] == last["offset"] + 4
    await writer.close()
    await back.close()


async def test_too_old_or_other_epoch_is_not_recovered(nodes: list[ServerProcess],
                                                       publisher: Publisher) -> None:
    """An offset that fell out of history, a future offset or another epoch gets
    `recovered: false` and no replayed events."""
    room = f"lobby:old{new_user()}"
    epoch, start = await publisher.publish(room, RoomEvent("chat", {"i": 0})) or ("", 0)
    for i in range(60):  # history keeps 50
        await publisher.publish(room, RoomEvent("chat", {"i": i + 1}))
    client = await Client.login(nodes[0].ws_url, new_user())
    for since in ({"epoch": epoch, "offset": start}, {"epoch": "another", "offset": 59},
                  {"epoch": epoch, "offset": 10_000}):
        result = await client.ok("subscribe", room=room, since=since)
        assert result["recovered"] is False and result["offset"] == start + 60
        assert (await client.command("ping"))["type"] == "ack"
        assert not [f for f in client.inbox if f["type"] == "event"]
        await client.ok("unsubscribe", room=room)
    ok = await client.ok("subscribe", room=room, since={"epoch": epoch, "offset": start + 15})
    assert ok["recovered"] is True
    replay = await client.events(room, 45)
    assert [e["data"]["i"] for e in replay] == list(range(16, 61))
    await client.close()


async def _resubscribe_while_publishing(node: ServerProcess, publisher: Publisher,
                                       pause: float) -> tuple[int, int, list[int], list[int]]:
    """Publish 10 events, then resubscribe with `since` while publishing more, `pause` seconds
    apart, until the ack is in (at most 30: history keeps 50), then 10 live ones. Returns
    (since offset, ack offset, offsets published while the subscribe was in flight, offsets
    the client got)."""
    room = f"lobby:race{new_user()}"
    epoch, base = await publisher.publish(room, RoomEvent("chat", {"i": 0})) or ("", 0)
    for i in range(10):
        await publisher.publish(room, RoomEvent("chat", {"i": i + 1}))
    client = await Client.login(node.ws_url, new_user(), max_queue=None)
    acked = asyncio.Event()
    in_flight: list[int] = []

    async def during() -> None:
        while not acked.is_set() and len(in_flight) < 30:
            pos = await publisher.publish(room, RoomEvent("chat", {"i": -1}))
            assert pos is not None
            if not acked.is_set():
                in_flight.append(pos[1])
            await asyncio.sleep(pause)  # (and let the client's reader see the ack)

    await client.send({"type": "subscribe", "id": "race", "room": room,
                       "since": {"epoch": epoch, "offset": base}})
    task = asyncio.create_task(during())
    ack = await client.expect(lambda f: f.get("id") == "race")
    acked.set()
    await task
    assert ack["type"] == "ack" and ack["result"]["recovered"] is True, ack
    last = 0
    for _ in range(10):
        last = (await publisher.publish(room, RoomEvent("chat", {"i": -2})) or ("", 0))[1]
    offsets = [e["offset"] for e in await client.events(room, last - base)]
    assert (await client.command("ping"))["type"] == "ack"
    offsets += [f["offset"] for f in client.inbox if f["type"] == "event"]  # any duplicate
    await client.close()
    return base, ack["result"]["offset"], in_flight, offsets


async def test_no_gap_no_duplicate_between_replay_and_live(nodes: list[ServerProcess],
                                                           publisher: Publisher) -> None:
    """While events keep being published, a resubscribe with `since` yields one unbroken,
    duplicate-free run of offsets from `since` + 1 on (checked on a run where events really
    were published while the subscribe was in flight, replayed ones before the ack's offset
    and live ones after it)."""
    straddled = 0
    runs: list[tuple[float, list[int], int]] = []  # (pause, first/last in flight, ack offset)
    # publishes paced from back to back to 20 ms apart: however long the subscribe takes on
    # this machine (0.1 ms to 0.6 s), some run has publishes on both sides of its ack; on a
    # loaded machine a run may miss it by chance, so the paces are tried up to three times
    # (every run is checked; the first that straddles ends it)
    for pause in (0, 0.001, 0.004, 0.02, 0.0005, 0.002) * 3:
        base, at_ack, in_flight, offsets = await _resubscribe_while_publishing(nodes[1],
                                                                               publisher, pause)
        assert offsets == list(range(base + 1, base + len(offsets) + 1))
        assert base + 10 <= at_ack < offsets[-1]  # both a replayed and a live part
        # the race really happened: the ack's position fell among events published while the
        # subscribe was in flight (some of them replayed, some live)
        straddled += bool(in_flight) and in_flight[0] <= at_ack < in_flight[-1]
        runs.append((pause, in_flight[:1] + in_flight[-1:], at_ack))
        if straddled:
            break
    assert straddled, f"the subscribe never overlapped the stream of publishes: {runs}"


async def test_ack_of_plain_subscribe_gives_the_position(nodes: list[ServerProcess],
                                                         publisher: Publisher) -> None:
    """A subscribe without `since` reports the room's epoch and offset and replays nothing."""
    room = f"lobby:pos{new_user()}"
    epoch, offset = await publisher.publish(room, RoomEvent("chat", {"i": 1})) or ("", 0)
    client = await Client.login(nodes[0].ws_url, new_user())
    result = await client.ok("subscribe", room=room)
    assert (result["epoch"], result["offset"], result["recovered"]) == (epoch, offset, False)
    await publisher.publish(room, RoomEvent("chat", {"i": 2}))
    event = (await client.events(room, 1))[0]
    assert event["offset"] == offset + 1 and event["data"] == {"i": 2}
    await client.close()


async def test_empty_room_gets_an_epoch_so_nothing_is_missed(nodes: list[ServerProcess],
                                                             publisher: Publisher) -> None:
    """Subscribing to a room that has no events yet still gives an epoch (offset 0); a client
    that saw nothing and comes back with `since` offset 0 gets every event it missed."""
    room = f"lobby:empty{new_user()}"
    client = await Client.login(nodes[0].ws_url, new_user())
    first = await client.ok("subscribe", room=room)
    assert first["epoch"] and first["offset"] == 0
    await client.close()
    for i in range(3):
        pos = await publisher.publish(room, RoomEvent("chat", {"i": i}))
        assert pos is not None and pos[0] == first["epoch"]
    back = await Client.login(nodes[1].ws_url, new_user())
    result = await back.ok("subscribe", room=room, since={"epoch": first["epoch"], "offset": 0})
    assert result["recovered"] is True and result["offset"] == 3
    assert [e["data"]["i"] for e in await back.events(room, 3)] == [0, 1, 2]
    await back.close()
