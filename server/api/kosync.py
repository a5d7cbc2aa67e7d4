"""KOReader's sync protocol (kosync v1) under /kosync, and the reader's sync settings under
/api/v1/me/kosync. KOReader's "Progress sync" plugin takes `<base>/kosync` as a custom server.

The protocol answers exactly as KOReader's own server does: JSON bodies, `{code, message}`
errors with its codes and statuses (401/402/403, 502 for a server error), and never problem
details. Bodies are read raw so that a malformed one is a 2003, not a 400/500.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, Request, Response, Router, delete, get, post, put
from litestar.datastructures import State
from redis.asyncio import Redis

from domain.accounts.passwords import passwords_for
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import NotFound
from domain.ids import Id, in_range
from domain.interop import kosync, kosync_limits, kosync_links
from domain.interop.kosync_links import KosyncOut, LinkIn
from domain.reading.events import ReadingEvent
from domain.settings import Settings
from server.api import reading
from server.api.accounts import client_address

log = logging.getLogger("readalong.kosync")
JSON = "application/json"


def _answer(body: dict[str, Any], status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON)


def _on_kosync_error(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, kosync_limits.KosyncRateLimited):
        answer = _answer({"code": exc.code, "message": exc.message}, exc.status)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    if isinstance(exc, kosync.KosyncError):
        return _answer({"code": exc.code, "message": exc.message}, exc.status)
    log.exception("kosync request failed", exc_info=exc)
    return _answer({"code": 2000, "message": "Unknown server error."}, 502)


async def _body(request: Request[Any, Any, Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise kosync.invalid_request() from None


async def _identity(request: Request[Any, Any, Any], db: Database, redis: Redis,
                    settings: Settings) -> kosync.Identity:
    """The identity the auth headers prove; failures are rate limited (`kosync_limits`)."""
    username = request.headers.get("x-auth-user")
    address = client_address(request)
    await kosync_limits.check(redis, settings, address, username)
    try:
        async with db.pool.acquire() as conn:
            return await kosync.authenticate(conn, passwords_for(settings), username,
                                             request.headers.get("x-auth-key"))
    except kosync.KosyncError:
        await kosync_limits.failed(redis, settings, address, username)
        raise


async def after_sync(state: State, db: Database, redis: Redis, settings: Settings,
                     user_id: int, happened: list[ReadingEvent]) -> None:
    """After the commit of a sync that moved a reading state: THE reading-life call point
    (`server.api.reading.after_change`): the reader's furthest grew, so every live session
    they are in (on every node) gets their new progress and the content it unlocks; then
    feed, leaderboards (live push) and goals. A sync that changed nothing (the same place
    again: no event) skips it all, goals included (nothing they count moved)."""
    if happened:
        await reading.after_change(state, db, redis, settings, user_id, happened)


@post("/users/create", status_code=201)
async def create_user(request: Request[Any, Any, Any], db: Database,
                      settings: Settings) -> Response[bytes]:
    if not settings.kosync_registration:
        raise kosync.registration_disabled()
    body = await _body(request)
    if not isinstance(body, dict):
        raise kosync.invalid_request()
    async with db.pool.acquire() as conn:
        identity = await kosync.create_identity(conn, passwords_for(settings),
                                                body.get("username"), body.get("password"))
    return _answer({"username": identity.username}, 201)


@get("/users/auth")
async def auth_user(request: Request[Any, Any, Any], db: Database, redis: Redis,
                    settings: Settings) -> Response[bytes]:
    await _identity(request, db, redis, settings)
    return _answer({"authorized": "OK"})


@put("/syncs/progress")
async def update_progress(request: Request[Any, Any, Any], state: State, db: Database,
                          redis: Redis, settings: Settings) -> Response[bytes]:
    identity = await _identity(request, db, redis, settings)
    update = kosync.parse_update(await _body(request))
    async with db.pool.acquire() as conn, conn.transaction():
        result = await kosync_links.on_put(conn, identity, update)
    if result is not None and identity.user_id is not None:
        await after_sync(state, db, redis, settings, identity.user_id,
                         kosync_links.events_of(result))
    return _answer({"document": update.document, "timestamp": update.timestamp})


@get("/syncs/progress/{document:str}")
async def get_progress(request: Request[Any, Any, Any], db: Database, redis: Redis,
                       settings: Settings, document: str) -> Response[bytes]:
    identity = await _identity(request, db, redis, settings)
    async with db.pool.acquire() as conn:
        found = await kosync.get_progress(conn, identity, document)
    return _answer(kosync.progress_body(found))


@get("/healthcheck")
async def healthcheck() -> Response[bytes]:
    return _answer({"state": "OK"})


KOSYNC = Router(path="/kosync", route_handlers=[create_user, auth_user, update_progress,
                                                 get_progress, healthcheck],
                exception_handlers={Exception: _on_kosync_error}, include_in_schema=False)

class DocumentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    book_id: Id


class MyKosyncController(Controller):
    path = "/api/v1/me/kosync"
    tags = ["kosync"]

    @get("", summary="My KOReader sync identities and documents (pending ones first)")
    async def mine(self, db: Database, user: Principal) -> KosyncOut:
        async with db.pool.acquire() as conn:
            return await kosync_links.overview(conn, user.user_id)

    @post("/link", status_code=200,
          summary="Link an existing sync identity by its username and KOReader password")
    async def link(self, state: State, db: Database, redis: Redis, settings: Settings,
                   user: Principal, data: LinkIn) -> KosyncOut:
        async with db.pool.acquire() as conn, conn.transaction():
            happened = await kosync_links.link_identity(conn, passwords_for(settings),
                                                        user.user_id, data)
        await after_sync(state, db, redis, settings, user.user_id, happened)
        async with db.pool.acquire() as conn:
            return await kosync_links.overview(conn, user.user_id)

    @post("/identities", status_code=201, summary="Create a sync identity linked to me")
    async def create(self, db: Database, settings: Settings, user: Principal,
                     data: LinkIn) -> KosyncOut:
        async with db.pool.acquire() as conn, conn.transaction():
            await kosync_links.create_linked(conn, passwords_for(settings), user.user_id, data)
        async with db.pool.acquire() as conn:
            return await kosync_links.overview(conn, user.user_id)

    @delete("/identities/{identity_id:int}", summary="Unlink (delete) one of my identities")
    async def drop(self, db: Database, user: Principal, identity_id: int) -> None:
        if not in_range(identity_id):
            raise NotFound("no such sync identity", code="kosync_identity_not_found")
        async with db.pool.acquire() as conn:
            await kosync_links.unlink_identity(conn, user.user_id, identity_id)

    @put("/documents/{document:str}", summary="Link a document hash to a book (confirms a "
         "pending one) and apply its latest stored progress")
    async def link_document(self, state: State, db: Database, redis: Redis,
                            settings: Settings, user: Principal, document: str,
                            data: DocumentIn) -> KosyncOut:
        async with db.pool.acquire() as conn, conn.transaction():
            happened = await kosync_links.link_document(conn, user.user_id, document,
                                                        data.book_id)
        await after_sync(state, db, redis, settings, user.user_id, happened)
        async with db.pool.acquire() as conn:
            return await kosync_links.overview(conn, user.user_id)

    @delete("/documents/{document:str}", summary="Forget a document's link")
    async def unlink_document(self, db: Database, user: Principal, document: str) -> None:
        async with db.pool.acquire() as conn:
            await kosync_links.unlink_document(conn, user.user_id, document)


CONTROLLERS = [KOSYNC, MyKosyncController]
