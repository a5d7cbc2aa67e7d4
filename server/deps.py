"""Dependency providers: controllers get settings, db, redis and the caller from here."""

from __future__ import annotations

from typing import Any

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


async def _principal(request: Request[Any, Any, Any], state: State) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    services = services_of(state)
    principal = verify_access_token(services.settings.secret_key, token)
    assert services.redis is not None
    await ensure_not_revoked(services.redis, principal)
    set_request_user(principal.user_id)  # log lines of this request name the caller
    return principal


async def provide_user(request: Request[Any, Any, Any], state: State) -> Principal:
    """The authenticated caller; 401 problem details when absent or invalid."""
    principal = await _principal(request, state)
    if principal is None:
        raise Unauthorized("authentication required", code="auth_required")
    return principal


async def provide_optional_user(request: Request[Any, Any, Any], state: State) -> Principal | None:
    return await _principal(request, state)
