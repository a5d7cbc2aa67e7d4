"""Rate limits on login and register, per client address, on a server with tight limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from tests.accounts_helpers import PASSWORD
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def limited_server(engines, tmp_path_factory: pytest.TempPathFactory  # type: ignore[no-untyped-def]
                   ) -> Iterator[ServerProcess]:
    """A server allowing 3 logins per (address, email) a minute and 2 registrations an hour."""
    env = engines.env(READALONG_LOGIN_RATE="3", READALONG_LOGIN_WINDOW="60",
                      READALONG_REGISTER_RATE="2", READALONG_REGISTER_WINDOW="3600")
    proc = ServerProcess(env, log_dir=tmp_path_factory.mktemp("limits")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def limited(limited_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_server.base_url, timeout=15) as client:
        yield client


def from_address(unique: str, net: int = 10) -> dict[str, str]:
    """Requests come through a trusted local proxy (uvicorn trusts X-Forwarded-For from
    127.0.0.1 by default) on behalf of a client address derived from `unique`."""
    n = int(unique[:6], 16)
    return {"X-Forwarded-For": f"{net}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}


async def test_login_is_rate_limited_per_address_and_email(limited: httpx.AsyncClient,
                                                          unique: str) -> None:
    """The 4th login attempt for one email from one address within a minute gets 429 with
    Retry-After, while the same address may still try another email."""
    headers = from_address(unique)
    email = f"victim{unique}@example.test"
    for _ in range(3):
        r = await limited.post("/api/v1/auth/login", json={"email": email, "password": "guess"},
                               headers=headers)
        assert r.status_code == 401
    r = await limited.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                           headers=headers)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    other = await limited.post("/api/v1/auth/login",
                               json={"email": f"other{unique}@example.test", "password": "x"},
                               headers=headers)
    assert other.status_code == 401


async def test_register_is_rate_limited_per_address(limited: httpx.AsyncClient,
                                                    unique: str) -> None:
    """The 3rd registration from one address within the hour gets 429 and creates nothing;
    another address can still register."""
    headers = from_address(unique)

    def body(n: int) -> dict[str, str]:
        return {"email": f"reg{n}{unique}@example.test", "handle": f"reg{n}{unique}",
                "display_name": "R", "password": PASSWORD}

    for n in range(2):
        r = await limited.post("/api/v1/auth/register", json=body(n), headers=headers)
        assert r.status_code == 201, r.text
    r = await limited.post("/api/v1/auth/register", json=body(2), headers=headers)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 1
    # nothing was stored for the refused one: the handle is still free from elsewhere
    r = await limited.post("/api/v1/auth/register", json=body(2), headers=from_address(unique, 11))
    assert r.status_code == 201, r.text
