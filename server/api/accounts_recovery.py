"""REST controllers of account recovery: forgot/reset password, email verification and change.

Emails go out after the answer (a background task), so "forgot password" answers the same, in
the same time, whether or not the address is registered.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from redis.asyncio import Redis

from domain.accounts import limits, recovery
from domain.accounts.mail import Mail, send_all
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.settings import Settings
from server.api.accounts import client_address


class ForgotIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str


class ResetIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    new_password: str


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class EmailChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    new_email: str
    password: str


class Accepted(msgspec.Struct):
    """The request was taken; what happens next arrives by email."""

    status: str


def with_mail(content: Any, settings: Settings, mails: list[Mail],
              status_code: int = 200) -> Response[Any]:
    """Answer `content`, then send `mails` (after the answer went out)."""
    return Response(content, status_code=status_code,
                    background=BackgroundTask(send_all, settings, mails) if mails else None)


FORGOT_ANSWER = "if an account uses this address, a reset link is on its way"


class RecoveryController(Controller):
    path = "/api/v1/auth"
    tags = ["accounts"]

    @post("/password/forgot", status_code=202,
          summary="Email a password-reset link (same answer for unknown addresses)")
    async def forgot(self, request: Request[Any, Any, Any], data: ForgotIn, db: Database,
                     redis: Redis, settings: Settings) -> Response[Accepted]:
        await limits.check_account_mail(redis, settings, client_address(request), data.email)
        mails = await recovery.forgot_password(db, settings, data.email)
        return with_mail(Accepted(status=FORGOT_ANSWER), settings, mails, 202)

    @post("/password/reset", status_code=200,
          summary="Set a new password with a reset token; every session is signed out")
    async def reset(self, data: ResetIn, db: Database, redis: Redis,
                    settings: Settings) -> Response[Accepted]:
        mails = await recovery.reset_password(db, redis, settings, data.token,
                                              data.new_password)
        return with_mail(Accepted(status="password changed; sign in again"), settings, mails)

    @post("/email/verify", status_code=200,
          summary="Use an email verification or email-change link")
    async def verify(self, data: TokenIn, db: Database,
                     settings: Settings) -> Response[recovery.EmailState]:
        state, mails = await recovery.verify_email(db, settings, data.token)
        return with_mail(state, settings, mails)


class MyEmailController(Controller):
    path = "/api/v1/me/email"
    tags = ["accounts"]

    @get("", summary="The caller's email address, whether verified, and a pending change")
    async def state(self, db: Database, user: Principal) -> recovery.EmailState:
        return await recovery.email_state(db, user.user_id)

    @post("", status_code=202,
          summary="Change the email address (password required); confirmed by a link")
    async def change(self, request: Request[Any, Any, Any], data: EmailChangeIn, db: Database,
                     redis: Redis, settings: Settings, user: Principal) -> Response[Accepted]:
        await limits.check_account_mail(redis, settings, client_address(request),
                                        f"user:{user.user_id}")
        mails = await recovery.request_email_change(db, settings, user,
                                                    new_email=data.new_email,
                                                    password=data.password)
        return with_mail(Accepted(status="a confirmation link was sent to the new address"),
                         settings, mails, 202)

    @post("/verification", status_code=202, summary="Send the verification link again")
    async def resend(self, request: Request[Any, Any, Any], db: Database, redis: Redis,
                     settings: Settings, user: Principal) -> Response[Accepted]:
        await limits.check_account_mail(redis, settings, client_address(request),
                                        f"user:{user.user_id}")
        mails = await recovery.resend_verification(db, settings, user)
        return with_mail(Accepted(status="a verification link is on its way"), settings,
                         mails, 202)


CONTROLLERS = [RecoveryController, MyEmailController]
