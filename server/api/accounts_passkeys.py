"""REST controllers of passkeys (WebAuthn): register one, and sign in with one."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from redis.asyncio import Redis

from domain.accounts import audit, limits, passkeys, service
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api.accounts import TokensOut, client_address, client_of, tokens_out


class CredentialIn(msgspec.Struct, forbid_unknown_fields=True):
    """The browser's `PublicKeyCredential`, as JSON (`toJSON()`)."""

    credential: dict[str, Any]


class MyPasskeysController(Controller):
    path = "/api/v1/me/passkeys"
    tags = ["accounts"]

    @post("/options", status_code=200, summary="Options to create a passkey (WebAuthn)")
    async def options(self, db: Database, redis: Redis, settings: Settings,
                      user: Principal) -> dict[str, Any]:
        return await passkeys.registration_options(redis, settings, db, user.user_id)

    @post("", status_code=201, summary="Register the passkey the browser created")
    async def register(self, request: Request[Any, Any, Any], data: CredentialIn, db: Database,
                       redis: Redis, settings: Settings, user: Principal) -> passkeys.Passkey:
        key = await passkeys.register(redis, settings, db, user.user_id, data.credential)
        await audit.record(db, user.user_id, "passkey_added", client_of(request))
        return key


class PasskeySignInController(Controller):
    path = "/api/v1/auth/passkey"
    tags = ["accounts"]

    @post("/options", status_code=200, summary="Options to sign in with a passkey")
    async def options(self, redis: Redis, settings: Settings) -> dict[str, Any]:
        return await passkeys.authentication_options(redis, settings)

    @post("", status_code=200, summary="Sign in with a passkey (no password)")
    async def sign_in(self, request: Request[Any, Any, Any], data: CredentialIn, db: Database,
                      redis: Redis, settings: Settings) -> TokensOut:
        await limits.check_login(redis, settings, client_address(request), "passkey")
        user_id, role = await passkeys.authenticate(redis, settings, db, data.credential)
        async with db.pool.acquire() as conn:
            session = await service.issue_session(conn, settings, user_id, role)
        await audit.signed_in(db, user_id, session.family, client_of(request), "passkey")
        return tokens_out(session, settings)


CONTROLLERS = [MyPasskeysController, PasskeySignInController]
