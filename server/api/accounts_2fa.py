"""REST controllers of two-factor sign-in: enrol, confirm, disable, new recovery codes, and
the code step of a login."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from redis.asyncio import Redis

from domain.accounts import audit, recovery, service, totp
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api.accounts import TokensOut, client_of, tokens_out
from server.api.accounts_recovery import with_mail


class SecondStepIn(msgspec.Struct, forbid_unknown_fields=True):
    challenge: str
    code: str


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    password: str


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class StepUpIn(msgspec.Struct, forbid_unknown_fields=True):
    password: str
    code: str


class TwoFactorLoginController(Controller):
    path = "/api/v1/auth/login"
    tags = ["accounts"]

    @post("/2fa", status_code=200,
          summary="Second sign-in step: the challenge and an authenticator or recovery code")
    async def second_step(self, request: Request[Any, Any, Any], data: SecondStepIn,
                          db: Database, redis: Redis, settings: Settings) -> TokensOut:
        client = client_of(request)
        session = await service.login_second_step(db, redis, settings, challenge=data.challenge,
                                                  code=data.code, client=client)
        await audit.signed_in(db, session.user_id, session.family, client, "password+code")
        return tokens_out(session, settings)


class TwoFactorController(Controller):
    path = "/api/v1/me/2fa"
    tags = ["accounts"]

    @post("/enrol", status_code=200,
          summary="Start TOTP enrolment (password required): secret, otpauth URI, QR as SVG")
    async def enrol(self, data: PasswordIn, db: Database, settings: Settings,
                    user: Principal) -> totp.Enrolment:
        return await totp.enrol(db, settings, user.user_id, data.password)

    @post("/confirm", status_code=200,
          summary="Turn 2FA on with a first code; answers ten recovery codes, shown once")
    async def confirm(self, request: Request[Any, Any, Any], data: CodeIn, db: Database,
                      settings: Settings,
                      user: Principal) -> Response[totp.RecoveryCodes]:
        codes = await totp.confirm(db, settings, user.user_id, data.code)
        await audit.record(db, user.user_id, "totp_enabled", client_of(request))
        return with_mail(codes, settings, await recovery.security_notice(
            db, user.user_id, "Two-factor sign-in is on",
            "Two-factor sign-in was just turned on for your Readalong account."))

    @post("/disable", status_code=204, summary="Turn 2FA off (password and a code)")
    async def disable(self, request: Request[Any, Any, Any], data: StepUpIn, db: Database,
                      settings: Settings, user: Principal) -> Response[None]:
        await totp.disable(db, settings, user.user_id, data.password, data.code)
        await audit.record(db, user.user_id, "totp_disabled", client_of(request))
        return with_mail(None, settings, await recovery.security_notice(
            db, user.user_id, "Two-factor sign-in is off",
            "Two-factor sign-in was just turned off for your Readalong account."), 204)

    @post("/recovery-codes", status_code=200,
          summary="New recovery codes (password and a code); the old set stops working")
    async def regenerate(self, request: Request[Any, Any, Any], data: StepUpIn, db: Database,
                         settings: Settings,
                         user: Principal) -> Response[totp.RecoveryCodes]:
        codes = await totp.regenerate(db, settings, user.user_id, data.password, data.code)
        await audit.record(db, user.user_id, "recovery_codes_regenerated", client_of(request))
        return with_mail(codes, settings, await recovery.security_notice(
            db, user.user_id, "New recovery codes",
            "New recovery codes were made for your Readalong account; the old ones no longer "
            "work."))


CONTROLLERS = [TwoFactorLoginController, TwoFactorController]
