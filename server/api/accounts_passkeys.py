"""REST controllers of passkeys (WebAuthn): register one, and sign in with one."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from redis.asyncio import Redis

from domain.accounts import audit, limits, passkeys, service, totp, twostep
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api._requests import found
from server.api.accounts import TokensOut, client_address, client_of, tokens_out


class CredentialIn(msgspec.Struct, forbid_unknown_fields=True):
    """The browser's `PublicKeyCredential`, as JSON (`toJSON()`)."""

    credential: dict[str, Any]


class SecondFactorIn(msgspec.Struct, forbid_unknown_fields=True):
    password: str
    enabled: bool


class SecondFactorOut(msgspec.Struct):
    enabled: bool


class PasskeysOut(msgspec.Struct):
    passkeys: list[passkeys.Passkey]
    #: whether a passkey is asked for as the second sign-in step
    second_factor: bool


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    password: str


class ChallengeIn(msgspec.Struct, forbid_unknown_fields=True):
    challenge: str


class PasskeyStepIn(msgspec.Struct, forbid_unknown_fields=True):
    challenge: str
    credential: dict[str, Any]


class MyPasskeysController(Controller):
    path = "/api/v1/me/passkeys"
    tags = ["accounts"]

    @get("", summary="My passkeys, and whether one is asked for at sign-in")
    async def mine(self, db: Database, user: Principal) -> PasskeysOut:
        keys, on = await passkeys.mine(db, user.user_id)
        return PasskeysOut(passkeys=keys, second_factor=on)

    @post("/{passkey_id:int}/remove", status_code=204,
          summary="Remove one of my passkeys (password required; the last one also turns the "
                  "passkey sign-in step off)")
    async def remove(self, request: Request[Any, Any, Any], data: PasswordIn, db: Database,
                     settings: Settings, user: Principal, passkey_id: int) -> None:
        found(passkey_id=passkey_id)
        await totp.confirm_password(db, settings, user.user_id, data.password)
        await passkeys.remove(db, user.user_id, passkey_id)
        await audit.record(db, user.user_id, "passkey_removed", client_of(request))

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

    @put("/second-factor", status_code=200,
         summary="Use a passkey as the second sign-in step, or stop (password required)")
    async def second_factor(self, request: Request[Any, Any, Any], data: SecondFactorIn,
                            db: Database, settings: Settings,
                            user: Principal) -> SecondFactorOut:
        await totp.confirm_password(db, settings, user.user_id, data.password)
        await passkeys.set_second_factor(db, user.user_id, data.enabled)
        await audit.record(db, user.user_id, "passkey_second_factor_on" if data.enabled
                           else "passkey_second_factor_off", client_of(request))
        return SecondFactorOut(enabled=data.enabled)


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


class PasskeySecondStepController(Controller):
    path = "/api/v1/auth/login/2fa/passkey"
    tags = ["accounts"]

    @post("/options", status_code=200,
          summary="Second sign-in step with a passkey: request options for the challenge")
    async def options(self, data: ChallengeIn, db: Database, redis: Redis,
                      settings: Settings) -> dict[str, Any]:
        return await twostep.passkey_options(db, redis, settings, data.challenge)

    @post("", status_code=200,
          summary="Second sign-in step with a passkey: the challenge and the assertion")
    async def second_step(self, request: Request[Any, Any, Any], data: PasskeyStepIn,
                          db: Database, redis: Redis, settings: Settings) -> TokensOut:
        client = client_of(request)
        session = await service.login_passkey_step(db, redis, settings,
                                                   challenge=data.challenge,
                                                   credential=data.credential, client=client)
        await audit.signed_in(db, session.user_id, session.family, client, "password+passkey")
        return tokens_out(session, settings)


CONTROLLERS = [MyPasskeysController, PasskeySignInController, PasskeySecondStepController]
