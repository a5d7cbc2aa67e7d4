"""Registration limits per address at their defaults: creations and failures count apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from domain.settings import Settings
from tests.accounts_helpers import PASSWORD
from tests.conftest import Engines
from tests.support import ServerProcess

DEFAULTS = Settings()


@pytest.fixture(scope="module")
def default_server(engines: Engines, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[ServerProcess]:
    """A server with the registration limits at their defaults (the shared one relaxes them)."""
    proc = ServerProcess(engines.env(), log_dir=tmp_path_factory.mktemp("reglimits")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def client(default_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=default_server.base_url, timeout=30) as http:
        yield http


def address(unique: str, net: int) -> dict[str, str]:
    """Requests on behalf of one client address (uvicorn trusts X-Forwarded-For from
    127.0.0.1), distinct per test and per `net`."""
    n = int(unique[:6], 16)
    return {"X-Forwarded-For": f"{net}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}


def body(unique: str, n: int, password: str = PASSWORD) -> dict[str, str]:
    return {"email": f"rl{n}{unique}@example.test", "handle": f"rl{n}{unique}"[:30],
            "display_name": "Classmate", "password": password}


async def test_two_people_register_after_several_typos_from_one_address(
        client: httpx.AsyncClient, unique: str) -> None:
    """Seven failed attempts from one address (weak passwords, a taken handle) do not stop the
    next two people behind that address from creating their accounts."""
    headers = address(unique, 20)
    r = await client.post("/api/v1/auth/register", json=body(unique, 0), headers=headers)
    assert r.status_code == 201, r.text
    for n in range(6):
        r = await client.post("/api/v1/auth/register", json=body(unique, 50 + n, "short"),
                              headers=headers)
        assert r.status_code == 422, r.text
    r = await client.post("/api/v1/auth/register", json=body(unique, 0), headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    for n in (1, 2):
        r = await client.post("/api/v1/auth/register", json=body(unique, n), headers=headers)
        assert r.status_code == 201, r.text


async def test_account_creations_are_limited_past_the_default(client: httpx.AsyncClient,
                                                              unique: str) -> None:
    """One address creates `register_rate` accounts (30) within the hour; the next gets 429
    with Retry-After, and nothing is created for it."""
    headers = address(unique, 21)
    results = await asyncio.gather(*(
        client.post("/api/v1/auth/register", json=body(unique, n), headers=headers)
        for n in range(DEFAULTS.register_rate)))
    assert [r.status_code for r in results] == [201] * DEFAULTS.register_rate
    r = await client.post("/api/v1/auth/register", json=body(unique, 999), headers=headers)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    assert int(r.headers["retry-after"]) >= 1
    r = await client.post("/api/v1/auth/register", json=body(unique, 999),
                          headers=address(unique, 22))
    assert r.status_code == 201, "the refused registration must not have stored the account"


async def test_failed_registrations_are_limited_past_the_default(client: httpx.AsyncClient,
                                                                 unique: str) -> None:
    """After `register_failure_rate` failures (100) from one address within the hour, even a
    valid registration from it gets 429 until the window passes; other addresses are not
    affected."""
    headers = address(unique, 23)
    for start in range(0, DEFAULTS.register_failure_rate, 25):
        results = await asyncio.gather(*(
            client.post("/api/v1/auth/register", json=body(unique, n, "short"), headers=headers)
            for n in range(start, min(start + 25, DEFAULTS.register_failure_rate))))
        assert {r.status_code for r in results} == {422}
    r = await client.post("/api/v1/auth/register", json=body(unique, 1), headers=headers)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited", r.text
    r = await client.post("/api/v1/auth/register", json=body(unique, 1),
                          headers=address(unique, 24))
    assert r.status_code == 201, r.text
