"""KOReader's sync protocol (kosync v1) through real HTTP on a real server: every status, code
and body KOReader's own server answers, last write wins, and the server's timestamp."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from tests.accounts_helpers import register
from tests.fixture_helpers import connected_db
from tests.support import ServerProcess

ACCEPT = {"Accept": "application/vnd.koreader.v1+json"}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def device(username: str, password: str) -> dict[str, str]:
    """The headers KOReader sends: the user name and the MD5 of the password."""
    return {**ACCEPT, "x-auth-user": username, "x-auth-key": md5(password)}


async def create(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/kosync/users/create", headers=ACCEPT,
                           json={"username": username, "password": md5(password)})


def update(document: str, percentage: float = 0.25, **extra: Any) -> dict[str, Any]:
    return {"document": document, "progress": "/body/DocFragment[20]/body/p[22]/img.0",
            "percentage": percentage, "device": "Kobo Libra 2", "device_id": "DEV-1", **extra}


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


async def test_healthcheck(http: httpx.AsyncClient) -> None:
    """GET /kosync/healthcheck answers 200 {"state": "OK"} without credentials."""
    r = await http.get("/kosync/healthcheck", headers=ACCEPT)
    assert (r.status_code, r.json()) == (200, {"state": "OK"})


async def test_create_user_and_its_errors(http: httpx.AsyncClient, unique: str) -> None:
    """Registration answers 201 {username}; a taken name 402/2002; bad fields 403/2003."""
    r = await create(http, f"ko{unique}", "pw")
    assert (r.status_code, r.json()) == (201, {"username": f"ko{unique}"})
    r = await create(http, f"ko{unique}", "other")
    assert (r.status_code, r.json()) == (402, {"code": 2002,
                                                "message": "Username is already registered."})
    bad = {"code": 2003, "message": "Invalid request"}
    for body in ({"username": f"a:{unique}", "password": md5("x")},
                 {"username": f"n{unique}"}, {"password": md5("x")},
                 {"username": "", "password": md5("x")}, [1, 2]):
        r = await http.post("/kosync/users/create", headers=ACCEPT, json=body)
        assert (r.status_code, r.json()) == (403, bad), body
    r = await http.post("/kosync/users/create", headers=ACCEPT, content=b"{not json")
    assert (r.status_code, r.json()) == (403, bad)


async def test_auth(http: httpx.AsyncClient, unique: str) -> None:
    """GET /users/auth: 200 {"authorized": "OK"} for the right key, 401/2001 otherwise."""
    await create(http, f"au{unique}", "secret")
    r = await http.get("/kosync/users/auth", headers=device(f"au{unique}", "secret"))
    assert (r.status_code, r.json()) == (200, {"authorized": "OK"})
    denied = {"code": 2001, "message": "Unauthorized"}
    for headers in (device(f"au{unique}", "wrong"), device(f"nobody{unique}", "secret"),
                    ACCEPT, {**ACCEPT, "x-auth-user": f"au{unique}"}):
        r = await http.get("/kosync/users/auth", headers=headers)
        assert (r.status_code, r.json()) == (401, denied)


async def test_put_and_get_progress(http: httpx.AsyncClient, unique: str) -> None:
    """PUT answers {document, timestamp} with the server's clock; GET returns every field;
    the last write wins even when it goes back; an unknown document is 200 {}."""
    await create(http, f"pg{unique}", "pw")
    h = device(f"pg{unique}", "pw")
    before = int(time.time())
    r = await http.put("/kosync/syncs/progress", headers=h, json=update("doc1", 0.5))
    assert r.status_code == 200
    assert r.json()["document"] == "doc1"
    assert before <= r.json()["timestamp"] <= int(time.time()) + 1
    r = await http.put("/kosync/syncs/progress", headers=h,
                       json=update("doc1", 0.3, progress="42", device="PocketBook"))
    stamp = r.json()["timestamp"]
    r = await http.get("/kosync/syncs/progress/doc1", headers=h)
    assert (r.status_code, r.json()) == (200, {
        "document": "doc1", "percentage": 0.3, "progress": "42", "device": "PocketBook",
        "device_id": "DEV-1", "timestamp": stamp})
    r = await http.get("/kosync/syncs/progress/unknown-doc", headers=h)
    assert (r.status_code, r.json()) == (200, {})
    # device_id is optional; a numeric string percentage is a number (Lua's tonumber)
    body = update("doc2", 0.1)
    del body["device_id"]
    body["percentage"] = "0.75"
    assert (await http.put("/kosync/syncs/progress", headers=h, json=body)).status_code == 200
    got = (await http.get("/kosync/syncs/progress/doc2", headers=h)).json()
    assert got["percentage"] == 0.75 and "device_id" not in got


async def test_put_errors(http: httpx.AsyncClient, unique: str) -> None:
    """Bad credentials 401/2001 first; a missing document or one with ':' 403/2004; a missing
    or non-numeric percentage, progress or device 403/2003; GET of a bad document 403/2004."""
    await create(http, f"pe{unique}", "pw")
    h = device(f"pe{unique}", "pw")
    r = await http.put("/kosync/syncs/progress", headers=device(f"pe{unique}", "no"),
                       json=update("d"))
    assert (r.status_code, r.json()) == (401, {"code": 2001, "message": "Unauthorized"})
    no_doc = {"code": 2004, "message": "Field 'document' not provided."}
    for body in ({k: v for k, v in update("d").items() if k != "document"}, update("a:b"),
                 update("")):
        r = await http.put("/kosync/syncs/progress", headers=h, json=body)
        assert (r.status_code, r.json()) == (403, no_doc)
    invalid = {"code": 2003, "message": "Invalid request"}
    for field in ("percentage", "progress", "device"):
        body = update("d")
        del body[field]
        r = await http.put("/kosync/syncs/progress", headers=h, json=body)
        assert (r.status_code, r.json()) == (403, invalid), field
    r = await http.put("/kosync/syncs/progress", headers=h, json=update("d", "half"))  # type: ignore[arg-type]
    assert (r.status_code, r.json()) == (403, invalid)
    r = await http.put("/kosync/syncs/progress", headers=h, content=b"\x00\xff")
    assert (r.status_code, r.json()) == (403, invalid)
    r = await http.get("/kosync/syncs/progress/a:b", headers=h)
    assert (r.status_code, r.json()) == (403, no_doc)
    r = await http.get("/kosync/syncs/progress/d", headers=ACCEPT)
    assert r.status_code == 401


async def test_key_stored_with_a_slow_hash(http: httpx.AsyncClient, db: Database,
                                           unique: str) -> None:
    """The MD5 key is stored as an argon2id hash, never as itself."""
    await create(http, f"hs{unique}", "pw")
    stored = await db.pool.fetchval("SELECT key_hash FROM kosync_identities WHERE username = $1",
                                    f"hs{unique}")
    assert stored.startswith("$argon2id$") and md5("pw") not in stored


@pytest.fixture(scope="module")
def closed_server(engines, tmp_path_factory) -> Any:  # type: ignore[no-untyped-def]
    proc = ServerProcess(engines.env(READALONG_KOSYNC_REGISTRATION="0",
                                     READALONG_KOSYNC_AUTH_FAIL_RATE="3"),
                         log_dir=tmp_path_factory.mktemp("kosync-closed")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_registration_disabled(closed_server: ServerProcess, unique: str) -> None:
    """With READALONG_KOSYNC_REGISTRATION=0, /users/create answers 402/2005."""
    async with httpx.AsyncClient(base_url=closed_server.base_url, timeout=15) as http:
        r = await create(http, f"cl{unique}", "pw")
        assert (r.status_code, r.json()) == (402, {"code": 2005,
                                                    "message": "User registration is disabled."})


async def test_failed_sign_ins_are_rate_limited(closed_server: ServerProcess,
                                                unique: str) -> None:
    """After 3 wrong keys for one username (READALONG_KOSYNC_AUTH_FAIL_RATE=3), the next
    sign-in, even with the right key, is 429 with a kosync-style body and Retry-After; another
    identity from the same address still syncs, and right keys never count."""
    async with httpx.AsyncClient(base_url=closed_server.base_url, timeout=15) as http:
        reader = await register(http, unique, prefix="rl")
        for name in (f"rl{unique}", f"ok{unique}"):
            r = await http.post("/api/v1/me/kosync/identities", headers=reader.headers,
                                json={"username": name, "password": "right"})
            assert r.status_code == 201, r.text
        good, other = device(f"rl{unique}", "right"), device(f"ok{unique}", "right")
        for _ in range(5):  # successes are never counted
            assert (await http.get("/kosync/users/auth", headers=good)).status_code == 200
        for _ in range(3):
            r = await http.get("/kosync/users/auth", headers=device(f"rl{unique}", "wrong"))
            assert (r.status_code, r.json()["code"]) == (401, 2001)
        for attempt in (http.get("/kosync/users/auth", headers=good),
                        http.put("/kosync/syncs/progress", headers=good, json=update("d1"))):
            r = await attempt
            assert r.status_code == 429
            body = r.json()
            assert body["code"] == 2006 and body["message"].startswith("Too many failed sign-ins")
            assert set(body) == {"code", "message"} and int(r.headers["retry-after"]) >= 1
        r = await http.put("/kosync/syncs/progress", headers=other, json=update("d2"))
        assert r.status_code == 200 and r.json()["document"] == "d2"
