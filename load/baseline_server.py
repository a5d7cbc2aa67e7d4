"""The baseline: a minimal `websockets` broadcast server (one process, no Redis, no auth).

It speaks just enough of Readalong's wire protocol v1 (JSON) for the same load client to drive it:
`subscribe` joins an in-memory room and is acked, `publish` encodes one `event` frame once and
hands it to `websockets.broadcast()` for every member, then acks; `auth` gets a `welcome`, `ping`
an `ack`. Run: `python -m load.baseline_server --port 9001`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import msgspec
from websockets.asyncio.server import ServerConnection, broadcast, serve

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


async def run(port: int) -> None:
    rooms: dict[str, set[ServerConnection]] = {}
    offsets: dict[str, int] = {}

    def select_subprotocol(conn: ServerConnection, offered: list[str]) -> str | None:
        return "readalong.v1" if "readalong.v1" in offered else None

    async def handler(conn: ServerConnection) -> None:
        joined: set[str] = set()
        await conn.send(_encode({"type": "welcome", "node": "baseline", "user_id": 0,
                                 "expires_at": 0}))
        try:
            async for raw in conn:
                try:
                    msg = _decode(raw)
                    kind = msg["type"]
                    cid = msg.get("id")
                except Exception:
                    await conn.send(_encode({"type": "error", "id": None, "code": "bad_frame",
                                             "message": "bad frame"}))
                    continue
                if kind == "subscribe":
                    room = msg["room"]
                    rooms.setdefault(room, set()).add(conn)
                    joined.add(room)
                    await conn.send(_encode({"type": "ack", "id": cid, "result": {
                        "room": room, "epoch": "baseline", "offset": offsets.get(room, 0),
                        "recovered": False, "presence": []}}))
                elif kind == "unsubscribe":
                    rooms.get(msg["room"], set()).discard(conn)
                    joined.discard(msg["room"])
                    await conn.send(_encode({"type": "ack", "id": cid, "result": {}}))
                elif kind == "publish":
                    room = msg["room"]
                    offset = offsets[room] = offsets.get(room, 0) + 1
                    frame = _encode({"type": "event", "room": room, "epoch": "baseline",
                                     "offset": offset, "event": "chat", "data": msg["data"]})
                    broadcast(rooms.get(room, ()), frame.decode())
                    await conn.send(_encode({"type": "ack", "id": cid,
                                             "result": {"offset": offset}}))
                elif kind == "auth":
                    await conn.send(_encode({"type": "welcome", "node": "baseline",
                                             "user_id": 0, "expires_at": 0}))
                else:
                    await conn.send(_encode({"type": "ack", "id": cid, "result": {}}))
        finally:
            for room in joined:
                rooms.get(room, set()).discard(conn)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=65536,
                     select_subprotocol=select_subprotocol, ping_interval=20, ping_timeout=20,
                     max_queue=1024, backlog=4096):
        print(f"baseline listening on 127.0.0.1:{port}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from load.procs import same_gc_as_servers

    same_gc_as_servers()  # the servers' GC thresholds: the comparison is of code, not settings
    try:
        import uvloop  # the Readalong servers run on uvloop under uvicorn, so this one does too
    except ImportError:
        asyncio.run(run(args.port))
    else:
        uvloop.run(run(args.port))


if __name__ == "__main__":
    main()
