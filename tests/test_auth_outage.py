"""Accounts while Redis is down: refuse clearly (503 problem details), never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.accounts_helpers import register
from tests.fixture_helpers import own_stack
from tests.support import eventually


def test_auth_fails_closed_with_503_when_redis_is_down(tmp_path: Path, pg_template: Path) -> None:
    """With Redis stopped, authenticated requests, login and logout answer 503
    `auth_unavailable` (tokens cannot be checked for revocation); with Redis back, all work."""
    with own_stack(tmp_path, pg_template) as (engines, _db_url, proc):

        async def scenario(base_url: str) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
                user = await register(http, "outage", prefix="o")
                engines.redis.stop()
                r = await http.get("/api/v1/me", headers=user.headers)
                assert r.status_code == 503 and r.json()["code"] == "auth_unavailable", r.text
                r = await http.post("/api/v1/auth/login", json={"email": user.email,
                                                                 "password": user.password})
                assert r.status_code == 503 and r.json()["code"] == "auth_unavailable", r.text
                r = await http.post("/api/v1/auth/logout", json={
                    "refresh_token": user.refresh_token})
                assert r.status_code == 503 and r.json()["code"] == "auth_unavailable", r.text
                engines.redis.start()

                async def me_ok() -> bool:
                    r = await http.get("/api/v1/me", headers=user.headers)
                    return r.status_code == 200

                await eventually(me_ok, timeout=15)

        asyncio.run(scenario(proc.base_url))
