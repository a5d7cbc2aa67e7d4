"""The `/ws` ASGI endpoint: handshake (Origin, subprotocol, bearer entry), auth, the read loop.

The read loop decodes each frame with the connection's one decoder, rate-limits it and queues
it (`realtime.command_queue`: one task per busy socket runs its commands in order, dispatched
with `match`), so it never stops reading while a command waits; every command is answered with
`ack` or `error`. It never touches SQL (room kinds call use-cases). Bad frames get an `error`
and the connection lives on; repeated abuse closes 4008; past READALONG_WS_MAX_PENDING commands
not answered yet, the next one is answered `overloaded`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
from typing import Any

import msgspec
from redis.exceptions import RedisError

from domain.errors import DomainError
from realtime.broker import BrokerUnavailable
from realtime.command_queue import submit
from realtime.commands import Auth, Ping, PresenceUpdate, Publish, Subscribe, Unsubscribe
from realtime.connection import Connection
from realtime.events import Ack, Error, Welcome
from realtime.nesting import MAX_DEPTH
from realtime.node import Hub
from realtime.origins import OriginPolicy
from realtime.protocol import (
    BEARER_PREFIX,
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_ORIGIN,
    CLOSE_POLICY,
    CLOSE_RESTARTING,
    CLOSE_TOO_BIG,
    JSON,
    MSGPACK,
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    TooDeep,
)

log = logging.getLogger("readalong.hub")
_MISSING = re.compile(r"missing required field `([^`]+)`")

_RATE_CLASS: dict[type, str] = {Subscribe: "subscribe", Unsubscribe: "subscribe",
                                Publish: "publish", PresenceUpdate: "presence", Ping: "other",
                                Auth: "other"}


def _handshake(scope: Any) -> tuple[str | None, int, str | None, str | None]:
    """(Origin, wire format, selected subprotocol, bearer token) from the upgrade request."""
    origin: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = value.decode("latin-1")
    # (the server split Sec-WebSocket-Protocol into the scope's `subprotocols` already)
    offered: list[str] = scope.get("subprotocols") or []
    fmt, chosen = JSON, None
    for p in offered:
        if p in (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK):
            fmt, chosen = (MSGPACK if p == SUBPROTOCOL_MSGPACK else JSON), p
            break
    bearer = next((p[len(BEARER_PREFIX):] for p in offered if p.startswith(BEARER_PREFIX)),
                  None)
    return origin, fmt, chosen, bearer


def _client(scope: Any) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown client"


def _field_of(text: str) -> str | None:
    """The field a msgspec validation message names: `... - at `$.since.offset`` or
    `Object missing required field `offset` - at `$.since``."""
    path = text.rsplit(" - at `$", 1)[1].rstrip("`").lstrip(".") if " - at `$" in text else ""
    missing = _MISSING.search(text)
    if missing is not None:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


class Endpoint:
    """An ASGI app for WebSocket scopes on `/ws`, bound to one Hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        settings = hub.settings
        self.origins = OriginPolicy(settings)
        self.max_bytes = settings.ws_max_frame_bytes
        self.auth_timeout = settings.ws_auth_timeout
        self.max_pending = max(1, settings.ws_max_pending)
        self._run = self._execute  # (one bound method for every socket's command queue)
        self._ids = itertools.count(1)
        self._prefix = f"{hub.node_id}-{os.getpid():x}-"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 426,
                        "headers": [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")]})
            await send({"type": "http.response.body", "body": b"WebSocket endpoint\n"})
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        origin, fmt, chosen, bearer = _handshake(scope)
        # Keep what stays alive per open socket small (10,000s of them): the upgrade headers
        # are not needed past this point (uvicorn's logging uses client and path only).
        del message
        scope["headers"] = []
        scope["subprotocols"] = []  # (one of them may be the bearer token)
        # The query string is never read: a token in the URL is ignored (URLs end up in logs).
        await send({"type": "websocket.accept", "subprotocol": chosen})
        settings = self.hub.settings
        conn = Connection(self.hub, f"{self._prefix}{next(self._ids)}", fmt, send,
                          self.hub.queue_bytes, settings.ws_queue_size, settings.shutdown_grace)
        try:
            refused = self.origins.refusal(origin, scope)
            if refused is not None:
                log.warning("hub: refused a socket from origin %r (%s): %s", origin,
                            _client(scope), refused)
                self.hub._close(conn, CLOSE_BAD_ORIGIN)
            elif not self.hub.accepting:
                self.hub._close(conn, CLOSE_RESTARTING)
            elif await self._authenticate(conn, receive, bearer, origin):
                bearer = None
                await self._read_loop(conn, receive)
        finally:
            try:
                if conn.commands is not None:  # what was read before the socket went still runs
                    await conn.commands.finish()
            finally:
                await self.hub.disconnect(conn)

    # -- auth ------------------------------------------------------------------------------------
    async def _authenticate(self, conn: Connection, receive: Any, bearer: str | None,
                            origin: str | None) -> bool:
        hub = self.hub
        cmd_id: str | None = None
        if bearer is not None:
            token = bearer
        else:
            try:
                message = await asyncio.wait_for(receive(), self.auth_timeout)
            except TimeoutError:
                self._refuse(conn, None, "auth_timeout", "send an auth frame first", origin)
                return False
            if message["type"] != "websocket.receive":
                return False
            data = message.get("bytes")
            if data is None:
                data = message.get("text") or ""
            if self._too_big(data):
                hub._close(conn, CLOSE_TOO_BIG)
                return False
            try:
                cmd = conn.codec.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                cmd = None
            if not isinstance(cmd, Auth):
                self._refuse(conn, conn.codec.command_id(data), "auth_required",
                             "the first frame must be auth", origin)
                return False
            token, cmd_id = cmd.token, cmd.id
        try:
            principal = await hub.authenticate(conn, token)
        except DomainError as exc:
            if exc.code == "auth_unavailable":  # Redis is down at the revocation check
                return self._unavailable_at_auth(conn, cmd_id)
            self._refuse(conn, cmd_id, exc.code, exc.detail, origin)
            return False
        except (RedisError, OSError):
            return self._unavailable_at_auth(conn, cmd_id)
        if conn.closed:
            return False
        conn.send(Welcome(node=hub.node_id, user_id=principal.user_id,
                          expires_at=principal.exp, id=cmd_id))
        return True

    def _unavailable_at_auth(self, conn: Connection, cmd_id: str | None) -> bool:
        """Redis is unreachable: not the token's fault, so `unavailable` + 4012 (reconnect
        shortly), not 4001 (which would send the client to log in again)."""
        conn.send(Error(cmd_id, "unavailable", "the realtime backend is unavailable; "
                        "reconnect shortly"))
        self.hub._close(conn, CLOSE_RESTARTING)
        return False

    def _refuse(self, conn: Connection, cmd_id: str | None, code: str, message: str,
                origin: str | None) -> None:
        log.info("hub: refused a socket from origin %r: %s (%s)", origin, code, message)
        conn.send(Error(cmd_id, code, message))
        self.hub.metrics.errors.inc(code)
        self.hub._close(conn, CLOSE_AUTH_FAILED)

    def _too_big(self, data: bytes | str) -> bool:
        n = len(data)
        if n > self.max_bytes:
            return True
        if isinstance(data, str) and n * 4 > self.max_bytes:
            return len(data.encode()) > self.max_bytes
        return False

    # -- read loop -------------------------------------------------------------------------------
    async def _read_loop(self, conn: Connection, receive: Any) -> None:
        hub = self.hub
        codec = conn.codec
        while not conn.closed:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
                if data is None:
                    continue
            if self._too_big(data):
                hub._close(conn, CLOSE_TOO_BIG)
                return
            try:
                cmd = codec.decode(data)
            except msgspec.ValidationError as exc:  # (a subclass of DecodeError)
                text = str(exc)
                code = "unknown_type" if "`$.type`" in text or "field `type`" in text \
                    else "invalid"
                self._reject(conn, codec.command_id(data), code, text, field=_field_of(text))
                continue
            except TooDeep:
                self._reject(conn, None, "malformed", "the frame nests deeper than "
                             f"{MAX_DEPTH} levels")
                continue
            except msgspec.DecodeError:
                self._reject(conn, None, "malformed", "the frame is not valid "
                             + ("MessagePack" if codec.binary else "JSON"))
                continue
            klass = _RATE_CLASS[type(cmd)]
            wait = conn.limits.check(klass)
            if wait:
                self._reject(conn, cmd.id, "rate_limited",
                             f"too many {klass} commands; slow down", retry_after=wait)
                continue
            if conn.commands is None and type(cmd) is Ping:  # no work, nothing ahead of it
                hub.metrics.commands.inc("ping")
                conn.send(Ack(cmd.id, {}))
                continue
            retry = submit(conn, cmd, self._run, self.max_pending)
            if retry is not None:
                self._reject(conn, cmd.id, "overloaded", f"{self.max_pending} commands of this "
                             "socket are not answered yet; retry later", retry_after=retry,
                             strike=False)
                continue
            hub.metrics.commands.inc(cmd.__struct_config__.tag)

    async def _execute(self, conn: Connection, cmd: Any) -> None:
        """Run one command (its socket's command queue calls this, one at a time, in order);
        whatever fails is answered with an `error` and the socket lives on."""
        try:
            await self._dispatch(conn, cmd)
        except DomainError as exc:
            self._reject(conn, cmd.id, exc.code, exc.detail, field=exc.field,
                         retry_after=exc.extra.get("retry_after"), strike=False)
        except (BrokerUnavailable, RedisError, OSError) as exc:
            log.warning("hub: %s of user %s failed: %s", type(cmd).__name__, conn.user_id, exc)
            self._reject(conn, cmd.id, "unavailable",
                         "the realtime backend is unavailable; retry shortly", strike=False)
        except Exception:  # a bug (ours or a room kind's) must not kill the socket
            log.exception("hub: %s of user %s failed", type(cmd).__name__, conn.user_id)
            self._reject(conn, cmd.id, "internal", "internal error", strike=False)

    def _reject(self, conn: Connection, cmd_id: str | None, code: str, message: str,
                field: str | None = None, retry_after: float | None = None,
                strike: bool = True) -> None:
        conn.send(Error(cmd_id, code, message[:300], field,
                        round(retry_after, 3) if retry_after is not None else None))
        self.hub.metrics.errors.inc(code)
        if strike and conn.limits.strike():
            self.hub._close(conn, CLOSE_POLICY)

    async def _dispatch(self, conn: Connection, cmd: Any) -> None:
        hub = self.hub
        match cmd:
            case Ping(id=cid):
                conn.send(Ack(cid, {}))
            case Subscribe():
                await hub.subscribe(conn, cmd)  # sends its own ack, then replay
            case Unsubscribe(id=cid, room=room):
                await hub.unsubscribe(conn, room)
                conn.send(Ack(cid, {}))
            case Publish(id=cid):
                conn.send(Ack(cid, await hub.client_publish(conn, cmd)))
            case PresenceUpdate(id=cid):
                await hub.presence_update(conn, cmd)
                conn.send(Ack(cid, {}))
            case Auth(id=cid, token=token):
                principal = await hub.authenticate(conn, token)
                conn.send(Ack(cid, {"expires_at": principal.exp}))
