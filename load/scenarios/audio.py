"""audio: the media process's CPU per speaker and per listener, and join-to-first-audio.

One web process and the real media process (`python -m server.cli media`, loopback host
candidates only), both pinned like servers. A co-reading session's host opens its stage and
speaks (an aiortc peer sending a 440 Hz tone); listeners (aiortc peers in this load process,
each with its own hub socket: subscribe, `offer`, answer; 10 per load-client process) join in
steps up to 1/10/25/50. For
each step: the media process's CPU (cores) over a window, and every new listener's time from
sending its offer to its first loud audio frame. Per-listener cost = (step − speaker only) / N;
per-speaker cost = speaker only − idle (and a second speaker at the largest step). A libopus
encode of one 20 ms frame is timed too: what relaying with a re-encode per listener
(aiortc's `MediaRelay`) would add per listener, next to what the mixer pays (one encode per
distinct heard set)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from argparse import Namespace
from typing import Any

from load.measure import cpu_seconds
from load.procs import Child
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users

TITLE = "audio: media process CPU per listener/speaker, join-to-first-audio"
DEFAULT_REPEATS = 1
ALL_SIZES = {"audio_listeners": "1,10"}  # `make bench` keeps it short
LOOPBACK = {"READALONG_MEDIA_HOST_ADDRESSES": "127.0.0.1", "READALONG_MEDIA_MAX_PEERS": "500",
            "READALONG_STAGE_MAX_LISTENERS": "500"}


def add_arguments(g: Any) -> None:
    g.add_argument("--audio-listeners", default="1,10,25,50", help="listener steps")
    g.add_argument("--audio-window", type=float, default=5.0, help="seconds measured per step")


def quick(args: Namespace) -> None:
    args.audio_listeners = "1,5"
    args.audio_window = 2.0


def params(args: Namespace) -> dict[str, Any]:
    return {"listeners": args.audio_listeners, "window_s": args.audio_window, "servers": 1}


def _opus_encode_us(n: int = 500) -> float:
    """Microseconds libopus takes for one 20 ms mono frame at 32 kbit/s (this machine)."""
    import numpy as np
    from av import AudioFrame

    from realtime.media.mix import CHUNK, RATE, TIME_BASE, new_encoder

    codec = new_encoder()
    pcm = (np.sin(np.arange(CHUNK) * 2 * np.pi * 440 / RATE) * 8000).astype(np.int16)
    t0 = time.perf_counter()
    for i in range(n):
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * CHUNK, TIME_BASE
        codec.encode(frame)
    return (time.perf_counter() - t0) / n * 1e6


class _Socket:
    """A minimal hub client: one JSON command at a time, events kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0

    @classmethod
    async def open(cls, url: str, token: str) -> _Socket:
        import websockets

        ws = await websockets.connect(url, subprotocols=["readalong.v1", f"bearer.{token}"],
                                      max_size=2**20, open_timeout=30, ping_interval=None)
        sock = cls(ws)
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        return sock

    async def command(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        cid = f"b{self.n}"
        await self.ws.send(json.dumps({**frame, "id": cid}))
        while True:
            got = json.loads(await asyncio.wait_for(self.ws.recv(), 90))
            if got.get("id") == cid:
                return got  # type: ignore[no-any-return]

    async def publish(self, room: str, data: dict[str, Any]) -> dict[str, Any]:
        got = await self.command({"type": "publish", "room": room, "data": data})
        if got["type"] != "ack":
            raise RuntimeError(f"{data['type']}: {got}")
        return got


async def _peer(sock: _Socket, room: str, mic: Any = None) -> tuple[Any, asyncio.Future[float]]:
    """Connect one aiortc peer; (the peer, a future of the offer -> first loud frame time)."""
    import numpy as np
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    from domain.settings import load_settings
    from realtime.media.ice import rtc_configuration

    pc = RTCPeerConnection(rtc_configuration(load_settings({})))
    tr = pc.addTransceiver("audio", direction="sendrecv" if mic else "recvonly")
    if mic is not None:
        tr.sender.replaceTrack(mic)
    first: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    await pc.setLocalDescription(await pc.createOffer())
    t0 = time.monotonic()
    reply = await sock.publish(room, {"type": "offer", "sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(reply["result"]["sdp"], "answer"))

    async def drain() -> None:
        try:
            while True:
                frame = await tr.receiver.track.recv()
                if not first.done() and np.abs(frame.to_ndarray()).max() > 500:
                    first.set_result(time.monotonic() - t0)
        except MediaStreamError:
            return

    pc._bench_drain = asyncio.create_task(drain())  # type: ignore[attr-defined]
    return pc, first


PER_CLIENT = 10  # listener peers per load-client process (aiortc decodes each stream)


def _listener_proc(ws_url: str, tokens: list[str], room: str, results: Any, stop: Any) -> None:
    """A load-client process: join `tokens` as listeners, report their join-to-first-audio
    times, stay connected until `stop`."""
    asyncio.run(_listen(ws_url, tokens, room, results, stop))


async def _listen(ws_url: str, tokens: list[str], room: str, results: Any, stop: Any) -> None:
    from realtime.media.ice import restrict_host_addresses

    restrict_host_addresses(["127.0.0.1"])
    socks, peers, firsts = [], [], []
    try:
        for token in tokens:
            sock = await _Socket.open(ws_url, token)
            socks.append(sock)
            sub = await sock.command({"type": "subscribe", "room": room})
            if sub["type"] != "ack":
                raise RuntimeError(f"subscribe: {sub}")
            pc, first = await _peer(sock, room)
            peers.append(pc)
            firsts.append(first)
        await asyncio.wait(firsts, timeout=120)
        results.put([f.result() for f in firsts if f.done()])
        while not stop.is_set():
            await asyncio.sleep(0.2)
    finally:
        for pc in peers:
            pc._bench_drain.cancel()
            await pc.close()
        for sock in socks:
            await sock.ws.close()


async def _drive(stack: Stack, base_url: str, ws_url: str, media: Child, book: int,
                 users: list[int], steps: list[int], window: float) -> dict[str, Any]:
    import httpx

    from realtime.media.ice import restrict_host_addresses
    from realtime.media.tone import Tone

    restrict_host_addresses(["127.0.0.1"])
    pid = media.pid
    assert pid is not None

    async def cores(seconds: float) -> float:
        c0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

    fig: dict[str, Any] = {}
    host, rest = users[0], users[1:]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        hdr = {"Authorization": f"Bearer {stack.token(host)}"}
        r = await http.post("/api/v1/sessions", headers=hdr, json={
            "book_id": book, "title": "Bench stage", "capacity": 1000})
        sid = r.json()["id"]
        await http.post(f"/api/v1/sessions/{sid}/start", headers=hdr)
        for u in rest[:max(steps) + 2]:
            r = await http.post(f"/api/v1/sessions/{sid}/join", json={},
                                headers={"Authorization": f"Bearer {stack.token(u)}"})
            if r.status_code >= 300:
                raise RuntimeError(f"join: {r.status_code} {r.text[:300]}")
    room = f"stage:session:{sid}"
    peers: list[Any] = []
    socks: list[_Socket] = []
    try:
        fig["idle_cores"] = round(await cores(window), 4)
        hs = await _Socket.open(ws_url, stack.token(host))
        socks.append(hs)
        await hs.command({"type": "subscribe", "room": room})
        await hs.publish(room, {"type": "open", "max_speakers": 4})
        hp, _ = await _peer(hs, room, Tone(440))
        peers.append(hp)
        await asyncio.sleep(1.0)
        fig["speaker_only_cores"] = round(await cores(window), 4)
        joins: list[float] = []
        have = 0
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        results: Any = ctx.Queue()
        procs: list[Any] = []
        try:
            for n in steps:
                batch = [stack.token(u) for u in rest[have:n]]
                have = n
                chunks = [batch[i:i + PER_CLIENT] for i in range(0, len(batch), PER_CLIENT)]
                for chunk in chunks:
                    proc = ctx.Process(target=_listener_proc,
                                       args=(ws_url, chunk, room, results, stop), daemon=True)
                    proc.start()
                    procs.append(proc)
                got: list[float] = []
                for _ in chunks:
                    got += await asyncio.to_thread(results.get, True, 300)
                fig[f"l{n}_no_audio"] = len(batch) - len(got)
                joins += got
                fig[f"l{n}_join_p50_ms"] = latency_summary(got)["p50_ms"]
                fig[f"l{n}_join_max_ms"] = latency_summary(got)["max_ms"]
                pids = [p.pid for p in procs]
                client0 = sum(cpu_seconds(p) for p in pids)
                c = await cores(window)
                fig[f"l{n}_client_cores"] = round(
                    (sum(cpu_seconds(p) for p in pids) - client0) / window, 3)
                fig[f"l{n}_cores"] = round(c, 4)
                fig[f"l{n}_per_listener_ms_per_s"] = round(
                    (c - fig["speaker_only_cores"]) / n * 1000, 2)
                fig[f"l{n}_speaker_state"] = hp.connectionState
                print(f"   {n} listeners: speaker {hp.connectionState}, media {c:.3f} cores, "
                      f"join p50 {fig[f'l{n}_join_p50_ms']} ms, client "
                      f"{fig[f'l{n}_client_cores']} cores, {fig[f'l{n}_no_audio']} without "
                      "audio", flush=True)
            # a second speaker at the largest step (invited, accepting, with a microphone)
            second = rest[have]
            s2 = await _Socket.open(ws_url, stack.token(second))
            socks.append(s2)
            await s2.command({"type": "subscribe", "room": room})
            await hs.publish(room, {"type": "invite", "user_id": second})
            await s2.publish(room, {"type": "accept"})
            pc2, _ = await _peer(s2, room, Tone(660))
            peers.append(pc2)
            await asyncio.sleep(1.0)
            fig[f"l{have}_two_speakers_cores"] = round(await cores(window), 4)
        finally:
            stop.set()
            for proc in procs:
                proc.join(20)
                if proc.is_alive():
                    proc.kill()
        fig.update(latency_summary(joins, "join_"))
    finally:
        for pc in peers:
            pc._bench_drain.cancel()
            await pc.close()
        for s in socks:
            await s.ws.close()
    fig["speaker_ms_per_s"] = round((fig["speaker_only_cores"] - fig["idle_cores"]) * 1000, 2)
    return fig


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    import sys

    import asyncpg

    steps = [int(s) for s in args.audio_listeners.split(",") if s.strip()]
    stack.start_engines()
    users = ensure_users(stack, max(steps) + 3)

    async def book() -> int:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return int(await conn.fetchval(
                "INSERT INTO books (title, title_key, page_count) VALUES"
                " ('Bench stage', 'bench stage', 300) RETURNING id"))
        finally:
            await conn.close()

    book_id = asyncio.run(book())
    encode_us = _opus_encode_us()
    runs = []
    for _ in range(repeats):
        stack.flush_redis()
        servers = stack.start_servers(1, READALONG_REGISTER_RATE="100000", **LOOPBACK)
        media = Child("media", [sys.executable, "-m", "server.cli", "media"],
                      stack.server_env(**LOOPBACK), stack.logs, cpus=stack.pinning.servers)
        stack.children.append(media)
        media.spawn()
        try:
            time.sleep(3.0)  # the media process imports aiortc and beats once
            fig = asyncio.run(_drive(stack, servers[0].base_url, servers[0].ws_url, media,
                                     book_id, users, steps, args.audio_window))
            fig["opus_encode_us_per_frame"] = round(encode_us, 1)
            fig["reencode_ms_per_s_per_listener"] = round(encode_us * 50 / 1000, 2)
            runs.append(fig)
        finally:
            stack.stop_child(media)
            stack.stop_servers()
    headline = [("idle_cores", "media process idle (cores)"),
                ("speaker_only_cores", "1 speaker, no listener (cores)"),
                ("speaker_ms_per_s", "per speaker (CPU ms per s)")]
    for n in steps:
        headline += [(f"l{n}_cores", f"1 speaker + {n} listeners (cores)"),
                     (f"l{n}_per_listener_ms_per_s", "  per listener (CPU ms per s)"),
                     (f"l{n}_join_p50_ms", "  join -> first audio p50 ms"),
                     (f"l{n}_client_cores", "  load client (cores; 1.0 = saturated)")]
    headline += [(f"l{steps[-1]}_two_speakers_cores", f"2 speakers + {steps[-1]} listeners"),
                 ("join_p99_ms", "join -> first audio p99 ms (all)"),
                 ("reencode_ms_per_s_per_listener",
                  "a re-encode per listener would add (CPU ms per s)")]
    return [{"title": TITLE, "runs": runs, "headline": headline,
             "notes": ["1 web process + the media process pinned to the server CPUs; the "
                       "aiortc listener peers (decoding every stream) run in load-client "
                       "processes, 10 each; 1 core = 1000 CPU ms per s"]}]
