"""REST controllers of accounts: register, login, refresh, logout, /me, and role changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.background_tasks import BackgroundTask
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts import audit, limits, recovery, service, twostep
from domain.accounts.mail import send_all
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.notifications import social_hooks
from domain.settings import Settings
from domain.social import graph, profiles


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    handle: str
    display_name: str
    password: str


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class LogoutIn(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str | None = None


class TokensOut(msgspec.Struct):
    """A session: a short-lived bearer access token and the refresh token to renew it."""

    access_token: str
    expires_in: int
    expires_at: int
    refresh_token: str
    refresh_expires_at: datetime
    user_id: int
    role: str
    token_type: str = "bearer"


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    display_name: str | msgspec.UnsetType = msgspec.UNSET
    bio: str | msgspec.UnsetType = msgspec.UNSET
    avatar_url: str | msgspec.UnsetType | None = msgspec.UNSET
    favourite_genres: list[str] | msgspec.UnsetType = msgspec.UNSET
    visibility: str | msgspec.UnsetType = msgspec.UNSET


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str


class RoleIn(msgspec.Struct, forbid_unknown_fields=True):
    role: str


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def client_of(request: Request[Any, Any, Any]) -> audit.Client:
    return audit.Client(address=client_address(request),
                        user_agent=request.headers.get("user-agent", ""))


def tokens_out(session: service.AuthSession, settings: Settings) -> TokensOut:
    return TokensOut(access_token=session.access_token, expires_in=settings.access_token_ttl,
                     expires_at=session.access_expires_at, refresh_token=session.refresh_token,
                     refresh_expires_at=session.refresh_expires_at, user_id=session.user_id,
                     role=session.role)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["accounts"]

    @post("/register", summary="Create a reader account and log in")
    async def register(self, request: Request[Any, Any, Any], data: RegisterIn, db: Database,
                       redis: Redis, settings: Settings) -> Response[TokensOut]:
        async with limits.registering(redis, settings, client_address(request)):
            session = await service.register(db, settings, email=data.email, handle=data.handle,
                                             display_name=data.display_name,
                                             password=data.password)
        mails = await recovery.after_register(db, settings, session.user_id)
        await audit.signed_in(db, session.user_id, session.family, client_of(request),
                              "register")
        return Response(tokens_out(session, settings), status_code=201,
                        background=BackgroundTask(send_all, settings, mails))

    @post("/login", status_code=200, summary="Exchange email and password for tokens")
    async def login(self, request: Request[Any, Any, Any], data: LoginIn, db: Database,
                    redis: Redis, settings: Settings) -> TokensOut | twostep.Challenge:
        await limits.check_login(redis, settings, client_address(request), data.email)
        session = await service.login(db, settings, email=data.email, password=data.password,
                                      client=client_of(request))
        if isinstance(session, twostep.Challenge):
            return session
        await audit.signed_in(db, session.user_id, session.family, client_of(request),
                              "password")
        return tokens_out(session, settings)

    @post("/refresh", status_code=200, summary="Rotate a refresh token for a new pair")
    async def refresh(self, request: Request[Any, Any, Any], data: RefreshIn, db: Database,
                      redis: Redis, settings: Settings) -> TokensOut:
        session = await service.refresh(db, redis, settings, data.refresh_token)
        await audit.touch_device(db, session.user_id, session.family, client_of(request))
        return tokens_out(session, settings)

    @post("/logout", status_code=204, summary="Revoke this device's session")
    async def logout(self, db: Database, redis: Redis, settings: Settings,
                     maybe_user: Principal | None, data: LogoutIn | None = None) -> None:
        await service.logout(db, redis, settings, maybe_user,
                             data.refresh_token if data is not None else None)

    @post("/logout-all", status_code=204, summary="Revoke every session of the caller")
    async def logout_all(self, db: Database, redis: Redis, settings: Settings,
                         user: Principal) -> None:
        await service.logout_everywhere(db, redis, settings, user)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("", summary="The caller's account and profile")
    async def me(self, db: Database, user: Principal) -> profiles.MyProfile:
        return await profiles.get_my_profile(db, user.user_id)

    @patch("", summary="Edit the caller's profile")
    async def update(self, db: Database, user: Principal,
                     data: ProfilePatch) -> profiles.MyProfile:
        return await profiles.update_my_profile(
            db, user.user_id, display_name=data.display_name, bio=data.bio,
            avatar_url=data.avatar_url, favourite_genres=data.favourite_genres,
            visibility=data.visibility)

    @post("/password", status_code=200,
          summary="Change the password; every other session is revoked, a new pair returned")
    async def change_password(self, request: Request[Any, Any, Any], db: Database,
                              redis: Redis, settings: Settings, user: Principal,
                              data: PasswordChangeIn) -> TokensOut:
        session = await service.change_password(db, redis, settings, user,
                                                current_password=data.current_password,
                                                new_password=data.new_password)
        await audit.record(db, user.user_id, "password_changed", client_of(request))
        await audit.touch_device(db, session.user_id, session.family, client_of(request))
        return tokens_out(session, settings)

    @get("/follow-requests", summary="Pending requests to follow the caller")
    async def requests(self, db: Database, user: Principal, cursor: str | None = None,
                       limit: int = Parameter(default=50)) -> graph.UserPage:
        return await graph.my_list(db, user, "requests", cursor, limit)

    @post("/follow-requests/{handle:str}", status_code=200, summary="Approve a follow request")
    async def approve(self, db: Database, redis: Redis, user: Principal,
                      handle: str) -> graph.FollowState:
        state = await graph.approve_request(db, user, handle)
        await social_hooks.after_approve(db, redis, user.user_id, handle)
        return state

    @delete("/follow-requests/{handle:str}", summary="Decline a follow request")
    async def decline(self, db: Database, user: Principal, handle: str) -> None:
        await graph.remove_follower(db, user, handle)

    @delete("/followers/{handle:str}", summary="Remove a follower")
    async def remove_follower(self, db: Database, redis: Redis, user: Principal,
                              handle: str) -> None:
        await graph.remove_follower(db, user, handle)
        await social_hooks.after_remove_follower(db, redis, user.user_id, handle)

    @get("/blocks", summary="Users the caller blocked")
    async def blocks(self, db: Database, user: Principal, cursor: str | None = None,
                     limit: int = Parameter(default=50)) -> graph.UserPage:
        return await graph.my_list(db, user, "blocks", cursor, limit)

    @get("/mutes", summary="Users the caller muted")
    async def mutes(self, db: Database, user: Principal, cursor: str | None = None,
                    limit: int = Parameter(default=50)) -> graph.UserPage:
        return await graph.my_list(db, user, "mutes", cursor, limit)


class AdminUsersController(Controller):
    path = "/api/v1/admin/users"
    tags = ["admin"]

    @put("/{handle:str}/role", summary="Change a user's role (admins only)")
    async def set_role(self, request: Request[Any, Any, Any], db: Database, redis: Redis,
                       settings: Settings, user: Principal, handle: str,
                       data: RoleIn) -> service.Account:
        account = await service.set_role(db, redis, settings, user, handle, data.role)
        await audit.record(db, account.id, "role_changed", client_of(request),
                           role=account.role, by=user.user_id)
        return account


CONTROLLERS = [AuthController, MeController, AdminUsersController]
