"""Dependency providers: controllers get settings, db, redis and the caller from here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import State
from redis.asyncio import Redis

from domain.accounts.revocation import ensure_not_revoked
from domain.accounts.tokens import Principal, verify_access_token
from domain.ai.trending import ViewTally
from domain.db import Database
from domain.errors import Unauthorized
from domain.settings import Settings
from server.logs import set_request_user
from server.state import Services


def services_of(state: State) -> Services:
    return state.services  # type: ignore[no-any-return]


async def provide_settings(state: State) -> Settings:
    return services_of(state).settings


async def provide_db(state: State) -> Database:
    db = services_of(state).db
    assert db is not None
    return db


async def provide_redis(state: State) -> Redis:
    redis = services_of(state).redis
    assert redis is not None
    return redis


async def provide_views(state: State) -> ViewTally:
    views = services_of(state).views
    assert views is not None
    return views


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access token>'",
                           code="invalid_token")
    return token.strip()


def _signed(request: Request[Any, Any, Any], state: State) -> tuple[Principal, Redis] | None:
    """The caller by the token's signature and expiry (None without a token), and the Redis
    that keeps the revocation marks."""
    token = bearer_token(request)
    if token is None:
        return None
    services = services_of(state)
    principal = verify_access_token(services.settings.secret_key, token)
    assert services.redis is not None
    return principal, services.redis


async def _principal(request: Request[Any, Any, Any], state: State) -> Principal | None:
    signed = _signed(request, state)
    if signed is None:
        return None
    principal, redis = signed
    await ensure_not_revoked(redis, principal)
    set_request_user(principal.user_id)  # log lines of this request name the caller
    return principal


T = TypeVar("T")


class Reader:
    """The caller of a read-only request (`reader`, `maybe_reader`): known by the token's
    signature and expiry, its revocation check (one Redis round trip) already on its way.
    `answer(work)` runs the handler's reads meanwhile and answers only once the check has
    passed, so a revoked token gets its 401 (and nothing it read) one round trip sooner than
    checking first; a handler that never calls it still has the check awaited before its
    answer leaves (the dependency's clean-up). Only for handlers that write nothing."""

    __slots__ = ("_check", "principal")

    def __init__(self, principal: Principal, check: asyncio.Future[None]) -> None:
        self.principal = principal
        self._check: asyncio.Future[None] | None = check

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    async def confirmed(self) -> None:
        """Wait for the revocation check (raises Unauthorized when the token was revoked)."""
        check, self._check = self._check, None
        if check is not None:
            await check

    async def answer(self, work: Awaitable[T]) -> T:
        job = asyncio.ensure_future(work)
        try:
            await self.confirmed()
        except BaseException:
            _drop(job)
            raise
        return await job

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            await self.confirmed()  # (a no-op once `answer` has awaited it)
        else:
            self.abandon()

    def abandon(self) -> None:
        """The handler failed without using the caller: drop the pending check quietly."""
        check, self._check = self._check, None
        if check is not None:
            _drop(check)


def _drop(fut: asyncio.Future[Any]) -> None:
    fut.cancel()  # (a finished one keeps its outcome: take it so nothing is logged as lost)
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())


def _start_reader(request: Request[Any, Any, Any], state: State) -> Reader | None:
    signed = _signed(request, state)
    if signed is None:
        return None
    principal, redis = signed
    set_request_user(principal.user_id)
    return Reader(principal, asyncio.ensure_future(ensure_not_revoked(redis, principal)))


async def provide_reader(request: Request[Any, Any, Any],
                         state: State) -> AsyncGenerator[Reader, None]:
    """The authenticated caller of a read-only handler (see Reader); 401 when absent."""
    reader = _start_reader(request, state)
    if reader is None:
        raise Unauthorized("authentication required", code="auth_required")
    async with reader:
        yield reader


async def provide_optional_reader(request: Request[Any, Any, Any],
                                  state: State) -> AsyncGenerator[Reader | None, None]:
    reader = _start_reader(request, state)
    if reader is None:
        yield None
        return
    async with reader:
        yield reader


async def provide_user(request: Request[Any, Any, Any], state: State) -> Principal:
    """The authenticated caller; 401 problem details when absent or invalid."""
    principal = await _principal(request, state)
    if principal is None:
        raise Unauthorized("authentication required", code="auth_required")
    return principal


async def provide_optional_user(request: Request[Any, Any, Any], state: State) -> Principal | None:
    return await _principal(request, state)
