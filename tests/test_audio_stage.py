"""Live audio stages end to end: real aiortc peers on 127.0.0.1 (loopback host candidates only,
no STUN/TURN), two real web processes, the real media process (`readalong media`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from realtime.media.tone import Tone
from tests.audio_support import LOOPBACK, MediaProcess, Peer
from tests.conftest import Engines
from tests.fixture_helpers import running_nodes
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users

HZ, HZ2 = 440.0, 1320.0


def loud(hz: float) -> Any:
    return lambda rms, peak: rms > 300 and abs(peak - hz) < 25


def quiet(rms: float, peak: float) -> bool:
    return rms < 50


@pytest.fixture(scope="module")
def nodes(engines: Engines, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[ServerProcess]]:
    """Two web processes on one Redis (the hub's usual two-node fixture)."""
    with running_nodes(engines.env(READALONG_REGISTER_RATE="100000", **LOOPBACK),
                       Path(tmp_path_factory.mktemp("audio-nodes"))) as procs:
        yield procs


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def media(engines: Engines, nodes: list[ServerProcess],
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MediaProcess]:
    proc = await MediaProcess(engines.env(READALONG_MEDIA_HEARTBEAT="0.5"),
                              Path(tmp_path_factory.mktemp("audio-media"))).start(
        engines.redis_url)
    try:
        yield proc
    finally:
        proc.stop()


async def _session(http: httpx.AsyncClient, engines: Engines, unique: str, n: int) -> Any:
    people = await users(http, unique, n)
    book = await make_book(engines.database_url, f"Aloud {unique}")
    s = await live_session(http, people[0], book)
    for p in people[1:]:
        r = await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=p.headers)
        assert r.status_code in (200, 201), r.text
    return s, people


async def _subscribe(ws: WS, room: str) -> None:
    reply = await ws.subscribe(room)
    assert reply["type"] == "ack", reply


def _stage_event(ws: WS, pred: Any) -> Any:
    return ws.wait(lambda f: f.get("type") == "event" and f.get("event") == "stage"
                   and pred(f["data"]["stage"]))


@pytest.mark.asyncio(loop_scope="module")
async def test_tone_mute_promotion_and_blocks(nodes: list[ServerProcess], media: MediaProcess,
                                              engines: Engines, unique: str) -> None:
    """The host's tone reaches listeners on both web nodes and stops when muted; a listener
    invited to speak is heard by the others after renegotiating; the stage holds at most
    `max_speakers`; only managers close it; speaking time lands in the session record."""
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.base_url, timeout=15) as http:
        s, (host, one, two) = await _session(http, engines, unique, 3)
        room = f"stage:session:{s['id']}"
        async with WS(a.ws_url, host.access_token) as hws, \
                WS(a.ws_url, one.access_token) as ws1, WS(b.ws_url, two.access_token) as ws2:
            for ws in (hws, ws1, ws2):
                await _subscribe(ws, room)
            state = await ws1.publish(room, {"type": "state"})
            assert state["result"]["stage"] is None and state["result"]["ice_servers"] == []
            assert (await ws1.publish(room, {"type": "open"}))["code"] == "not_stage_host"
            opened = await hws.publish(room, {"type": "open", "max_speakers": 2})
            assert opened["result"]["stage"]["speakers"] == [host.id], opened
            await _stage_event(ws2, lambda st: st["speakers"] == [host.id])

            hp, p1, p2 = Peer(hws, room), Peer(ws1, room), Peer(ws2, room)
            try:
                assert (await hp.connect(Tone(HZ)))["type"] == "ack"
                assert (await p1.connect())["type"] == "ack"
                assert (await p2.connect())["type"] == "ack"
                for p in (p1, p2):  # listeners on node A and node B hear the host's tone
                    rms, peak = await p.heard(loud(HZ))
                    assert loud(HZ)(rms, peak), (rms, peak)

                muted = await hws.publish(room, {"type": "mute", "muted": True})
                assert muted["result"]["stage"]["muted"] == [host.id]
                for p in (p1, p2):
                    assert quiet(*await p.heard(quiet)), "mute stops the tone"
                await hws.publish(room, {"type": "mute", "muted": False})
                assert loud(HZ)(*await p2.heard(loud(HZ)))

                # listener one raises a hand, the host invites: a speaker at once
                await ws1.publish(room, {"type": "hand", "raised": True})
                await _stage_event(hws, lambda st: st["hands"] == [one.id])
                invited = await hws.publish(room, {"type": "invite", "user_id": one.id})
                assert invited["result"]["stage"]["speakers"] == [host.id, one.id]
                await _stage_event(ws1, lambda st: one.id in st["speakers"])
                # the new speaker adds a microphone: renegotiation on the same connection
                assert (await p1.connect(Tone(HZ2)))["type"] == "ack"
                await hws.publish(room, {"type": "mute", "muted": True})
                rms, peak = await p2.heard(loud(HZ2))
                assert loud(HZ2)(rms, peak), "the promoted speaker is heard on the other node"
                rms, peak = await hp.heard(loud(HZ2))
                assert loud(HZ2)(rms, peak), "the host hears the new speaker"
                # a third speaker past max_speakers=2 is refused
                await ws2.publish(room, {"type": "hand", "raised": True})
                full = await hws.publish(room, {"type": "invite", "user_id": two.id})
                assert full["code"] == "stage_full", full
            finally:
                for p in (hp, p1, p2):
                    await p.close()
            assert (await ws2.publish(room, {"type": "close"}))["code"] == "not_stage_host"
            await hws.publish(room, {"type": "close"})
            ended = await ws2.wait(lambda f: f.get("event") == "stage_ended")
            assert ended["data"]["reason"] == "closed"
        doc = (await http.get("/asyncapi.json")).json()
        assert "stage_publish_offer" in doc["channels"]["roomCommands"]["messages"]
        assert "stage_stage_ended" in doc["channels"]["rooms"]["messages"]
        r = await http.get(f"/api/v1/sessions/{s['id']}/record", headers=host.headers)
        spoke = {p["user_id"]: p["seconds_speaking"] for p in r.json()["attendance"]}
        assert spoke[host.id] >= 1 and spoke[two.id] == 0, spoke


@pytest.mark.asyncio(loop_scope="module")
async def test_non_members_and_blocks(nodes: list[ServerProcess], media: MediaProcess,
                                      engines: Engines, unique: str) -> None:
    """A non-member and a user blocked by the host are refused; a bad offer or command is an
    error frame; a listener who blocked a speaker does not hear them while another does; the
    session's end ends its stage."""
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.base_url, timeout=15) as http:
        s, (host, fan, grump, talker, banned) = await _session(http, engines, unique, 5)
        (stranger,) = await users(http, f"x{unique}", 1)
        room = f"stage:session:{s['id']}"
        r = await http.post(f"/api/v1/users/{banned.handle}/block", headers=host.headers)
        assert r.status_code == 204, r.text
        r = await http.post(f"/api/v1/users/{talker.handle}/block", headers=grump.headers)
        assert r.status_code == 204, r.text
        async with WS(b.ws_url, stranger.access_token) as xws, \
                WS(a.ws_url, banned.access_token) as bws:
            assert (await xws.subscribe(room))["code"] == "not_member"
            assert (await bws.subscribe(room))["code"] == "blocked"
        async with WS(a.ws_url, host.access_token) as hws, \
                WS(b.ws_url, fan.access_token) as fws, WS(a.ws_url, grump.access_token) as gws, \
                WS(b.ws_url, talker.access_token) as tws:
            for ws in (hws, fws, gws, tws):
                await _subscribe(ws, room)
            await hws.publish(room, {"type": "open"})
            bad = await fws.publish(room, {"type": "offer", "sdp": "v=0 not an offer"})
            assert bad["type"] == "error" and bad["code"] == "invalid_sdp", bad
            odd = await fws.publish(room, {"type": "sing"})
            assert odd["code"] == "invalid_payload", odd
            await hws.publish(room, {"type": "mute", "muted": True})
            await hws.publish(room, {"type": "invite", "user_id": talker.id})
            assert (await tws.publish(room, {"type": "accept"}))["type"] == "ack"
            tp, fp, gp = Peer(tws, room), Peer(fws, room), Peer(gws, room)
            try:
                await tp.connect(Tone(HZ))
                await fp.connect()
                await gp.connect()
                assert loud(HZ)(*await fp.heard(loud(HZ)))
                rms, _ = await gp.listen(1.0)
                assert rms < 50, "the speaker this listener blocked is not relayed to them"
            finally:
                for p in (tp, fp, gp):
                    await p.close()
            r = await http.post(f"/api/v1/sessions/{s['id']}/end", headers=host.headers)
            assert r.status_code == 200, r.text
            ended = await fws.wait(lambda f: f.get("event") == "stage_ended", timeout=15)
            assert ended["data"]["reason"] == "place_ended", "the session's end ends its stage"


@pytest.mark.asyncio(loop_scope="module")
async def test_stage_survives_a_web_node_restart(nodes: list[ServerProcess],
                                                 media: MediaProcess, engines: Engines,
                                                 unique: str) -> None:
    """Restarting the web node the host signalled through keeps the stage: the listener on the
    other node goes on hearing the host, and the restarted node shows the same state."""
    a, b = nodes
    async with httpx.AsyncClient(base_url=b.base_url, timeout=15) as http:
        s, (host, one) = await _session(http, engines, unique, 2)
    room = f"stage:session:{s['id']}"
    async with WS(b.ws_url, one.access_token) as ws:
        await _subscribe(ws, room)
        hws = WS(a.ws_url, host.access_token)
        await hws.__aenter__()
        await _subscribe(hws, room)
        await hws.publish(room, {"type": "open"})
        hp, lp = Peer(hws, room), Peer(ws, room)
        try:
            await hp.connect(Tone(HZ))
            await lp.connect()
            assert loud(HZ)(*await lp.heard(loud(HZ)))
            await hws.close()
            await asyncio.to_thread(a.stop)  # (the peers keep running on this loop)
            await asyncio.to_thread(a.start)
            assert loud(HZ)(*await lp.heard(loud(HZ))), "the audio never went through node A"
            async with WS(a.ws_url, host.access_token) as again:
                await _subscribe(again, room)
                state = (await again.publish(room, {"type": "state"}))["result"]
                assert state["stage"]["speakers"] == [host.id] and state["manager"]
                assert (await again.publish(room, {"type": "close"}))["type"] == "ack"
        finally:
            await hp.close()
            await lp.close()


# `readalong serve --with-media` stops its media process with this deadline, then kills it
MEDIA_STOP_DEADLINE_S = 10.0


@pytest.mark.asyncio(loop_scope="module")
async def test_media_stop_with_live_peers_exits_by_itself_and_ends_the_stages(
        nodes: list[ServerProcess], media: MediaProcess, engines: Engines, unique: str) -> None:
    """Stopping the media process (SIGTERM) while two stages have connected peers (a speaker
    and a listener on each, on both web nodes): it exits by itself, cleanly, before the
    deadline at which its supervisor would kill it, and every socket of both stages gets
    `stage_ended` (`media_restarted`); a new media process serves again."""
    a, b = nodes
    sockets: list[WS] = []
    peers: list[Peer] = []
    try:
        for k in range(2):
            async with httpx.AsyncClient(base_url=a.base_url, timeout=15) as http:
                s, (host, one) = await _session(http, engines, f"{unique}s{k}", 2)
            room = f"stage:session:{s['id']}"
            hws, lws = WS(a.ws_url, host.access_token), WS(b.ws_url, one.access_token)
            for ws in (hws, lws):
                await ws.__aenter__()
                sockets.append(ws)
                await _subscribe(ws, room)
            assert (await hws.publish(room, {"type": "open"}))["type"] == "ack"
            speaker, listener = Peer(hws, room), Peer(lws, room)
            peers += [speaker, listener]
            await speaker.connect(Tone(HZ))
            await listener.connect()
            assert loud(HZ)(*await listener.heard(loud(HZ)))
        proc = media.proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        # past the deadline this raises TimeoutExpired (and the fixture kills the process)
        code = await asyncio.to_thread(proc.wait, MEDIA_STOP_DEADLINE_S)
        media.proc = None
        assert code == 0, media.log_path.read_text()[-2000:]
        for ws in sockets:
            ended = await ws.wait(lambda f: f.get("event") == "stage_ended", timeout=15)
            assert ended["data"]["reason"] == "media_restarted"
    finally:
        for peer in peers:
            await peer.close()
        for ws in sockets:
            await ws.__aexit__(None, None, None)
        if media.proc is None:
            await media.start(engines.redis_url)


@pytest.mark.asyncio(loop_scope="module")
async def test_media_kill_ends_the_stage(nodes: list[ServerProcess], media: MediaProcess,
                                         engines: Engines, unique: str) -> None:
    """Killing the media process ends the stage on both web nodes with `stage_ended`
    (`media_restarted`); a new media process lets the host open a new stage."""
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.base_url, timeout=15) as http:
        s, (host, one) = await _session(http, engines, unique, 2)
        room = f"stage:session:{s['id']}"
        async with WS(a.ws_url, host.access_token) as hws, WS(b.ws_url, one.access_token) as ws:
            await _subscribe(hws, room)
            await _subscribe(ws, room)
            await hws.publish(room, {"type": "open"})
            media.kill()
            for w in (hws, ws):
                ended = await w.wait(lambda f: f.get("event") == "stage_ended", timeout=15)
                assert ended["data"]["reason"] == "media_restarted"
            refused = await hws.publish(room, {"type": "open"})
            assert refused["code"] == "media_unavailable"
            await media.start(engines.redis_url)
            again = await hws.publish(room, {"type": "open"})
            assert again["type"] == "ack", again
