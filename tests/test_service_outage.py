"""REST while PostgreSQL or Redis is down: 503 `unavailable` with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from tests.accounts_helpers import UserSession, register
from tests.catalog_helpers import auth
from tests.fixture_helpers import own_stack
from tests.service_helpers import http_routes
from tests.support import eventually
from tests.test_sessions_helpers import live_session, make_book


def rest_routes() -> list[tuple[str, str]]:
    """(method, path template) of every /api/v1 route, from the app's own route list."""
    return [(method, route.path) for method, route in http_routes()]


def assert_unavailable(r: httpx.Response, code: str = "unavailable") -> None:
    assert r.status_code == 503, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text
    assert int(r.headers["retry-after"]) >= 1


async def _setup(http: httpx.AsyncClient, db_url: str) -> tuple[UserSession, dict[str, Any]]:
    host = await register(http, "outagehost", prefix="p")
    book = await make_book(db_url, "Outage book")
    session = await live_session(http, host, book)
    return host, session


def test_rest_answers_503_while_postgres_is_down(tmp_path: Path, pg_template: Path) -> None:
    """With this test's own PostgreSQL stopped, posting a chat message, creating a session,
    editing the profile, adding a book and registering answer 503 `unavailable` with
    Retry-After; no route of /api/v1 answers another 5xx; with PostgreSQL back, posting works."""
    with own_stack(tmp_path, pg_template) as (engines, db_url, proc):

        async def scenario(base_url: str) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                host, session = await _setup(http, db_url)
                sid = session["id"]
                engines.postgres.stop()
                writes = [
                    ("POST", f"/api/v1/sessions/{sid}/messages", {"body": "hello"}, host.headers),
                    ("POST", "/api/v1/sessions", {"book_id": 1, "title": "t"}, host.headers),
                    ("PATCH", "/api/v1/me", {"bio": "x"}, host.headers),
                    ("POST", "/api/v1/books", {"title": "B", "authors": ["A"]},
                     auth("moderator")),
                    ("POST", "/api/v1/auth/register", {
                        "email": "late@example.test", "handle": "late", "display_name": "L",
                        "password": "correct horse battery staple"}, None),
                    ("GET", f"/api/v1/sessions/{sid}/messages", None, host.headers),
                ]
                for method, path, body, headers in writes:
                    assert_unavailable(await http.request(method, path, json=body,
                                                          headers=headers))
                failures = []
                for method, template in rest_routes():
                    path = re.sub(r"\{\w+:int\}", str(sid), template)
                    path = re.sub(r"\{\w+:str\}", host.handle, path)
                    r = await http.request(method, path, json={}, headers=auth("admin"))
                    if r.status_code >= 500 and (r.status_code != 503
                                                 or "retry-after" not in r.headers):
                        failures.append(f"{method} {template}: {r.status_code} {r.text[:100]}")
                assert not failures, "\n".join(failures)
                engines.postgres.start()

                async def posted() -> bool:
                    r = await http.post(f"/api/v1/sessions/{sid}/messages",
                                        json={"body": "back"}, headers=host.headers)
                    return r.status_code == 201

                await eventually(posted, timeout=30, interval=0.2)

        asyncio.run(scenario(proc.base_url))


def test_rest_writes_answer_503_while_redis_is_down(tmp_path: Path, pg_template: Path) -> None:
    """With this test's own Redis stopped, an authenticated write answers 503 (tokens cannot
    be checked) and registering answers 503, each with Retry-After; anonymous reads of the
    catalog never answer a 500."""
    with own_stack(tmp_path, pg_template) as (engines, db_url, proc):

        async def scenario(base_url: str) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                host, session = await _setup(http, db_url)
                engines.redis.stop()
                r = await http.post(f"/api/v1/sessions/{session['id']}/messages",
                                    json={"body": "hi"}, headers=host.headers)
                assert_unavailable(r, "auth_unavailable")
                r = await http.post("/api/v1/auth/register", json={
                    "email": "r@example.test", "handle": "rdown", "display_name": "R",
                    "password": "correct horse battery staple"})
                assert_unavailable(r, "auth_unavailable")
                for path in ("/api/v1/books", "/api/v1/sessions?list=live",
                             f"/api/v1/sessions/{session['id']}"):
                    r = await http.get(path)
                    assert r.status_code < 500 or r.status_code == 503, r.text
                    if r.status_code == 503:
                        assert_unavailable(r)

        asyncio.run(scenario(proc.base_url))
