"""Forgotten passwords and email verification, on a real server and a real local SMTP server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pyotp
import pytest
import pytest_asyncio

from domain.notifications.service import notify
from tests.accounts_helpers import PASSWORD, register
from tests.accounts_mail import mail_to, running_smtp, token_in
from tests.fixture_helpers import running_server
from tests.hub_support import ORIGIN, Client
from tests.support import ServerProcess
from tests.worker_helpers import MailBox, db_and_redis, run_worker, worker_settings

NEW_PASSWORD = "a fresh and lengthy passphrase"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[MailBox, int]]:
    yield from running_smtp()


@pytest.fixture(scope="module")
def node(engines: Any, smtp: tuple[MailBox, int], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[ServerProcess]:
    env = engines.env(READALONG_SMTP_PORT=str(smtp[1]), READALONG_EMAIL_VERIFICATION="required",
                      READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000",
                      READALONG_FORGOT_ADDRESS_RATE="40", READALONG_ALLOWED_ORIGINS=ORIGIN)
    with running_server(env, tmp_path_factory.mktemp("acc-logs")) as proc:
        yield proc


@pytest_asyncio.fixture
async def api(node: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=15) as client:
        yield client


async def _forgot(api: httpx.AsyncClient, email: str) -> httpx.Response:
    return await api.post("/api/v1/auth/password/forgot", json={"email": email})


async def test_reset_works_once_and_signs_out_everywhere(api: httpx.AsyncClient,
                                                         node: ServerProcess,
                                                         smtp: tuple[MailBox, int],
                                                         unique: str) -> None:
    """A reset link sets a new password once, closes the reader's sockets, kills their
    tokens, and the owner is told; an unknown address gets the very same answer."""
    box = smtp[0]
    ana = await register(api, unique, prefix="rs")
    ws = await Client.open(node.ws_url)
    await ws.send({"type": "auth", "id": "auth", "token": ana.access_token})
    assert (await ws.expect(lambda f: f["type"] in ("welcome", "error")))["type"] == "welcome"

    known = await _forgot(api, ana.email.upper())
    unknown = await _forgot(api, f"nobody{unique}@example.test")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    [msg] = await mail_to(box, ana.email, "Reset your Readalong password")
    token = token_in(msg)

    weak = await api.post("/api/v1/auth/password/reset",
                          json={"token": token, "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    ok = await api.post("/api/v1/auth/password/reset",
                        json={"token": token, "new_password": NEW_PASSWORD})
    assert ok.status_code == 200, ok.text
    assert await ws.closed_with(timeout=15) == 4003
    again = await api.post("/api/v1/auth/password/reset",
                           json={"token": token, "new_password": NEW_PASSWORD + "!"})
    assert again.status_code == 422 and again.json()["code"] == "token_invalid"

    r = await api.get("/api/v1/me", headers=ana.headers)
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    r = await api.post("/api/v1/auth/refresh", json={"refresh_token": ana.refresh_token})
    assert r.status_code == 401
    old = await api.post("/api/v1/auth/login", json={"email": ana.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await api.post("/api/v1/auth/login", json={"email": ana.email,
                                                     "password": NEW_PASSWORD})
    assert new.status_code == 200
    await mail_to(box, ana.email, "password was changed")


async def test_a_bogus_reset_token_is_refused(api: httpx.AsyncClient) -> None:
    """A made-up or oversized token is a clear 422, never a 500."""
    for token in ("nope", "x" * 500, ""):
        r = await api.post("/api/v1/auth/password/reset",
                           json={"token": token, "new_password": NEW_PASSWORD})
        assert r.status_code == 422 and r.json()["code"] == "token_invalid", r.text


async def test_forgot_is_rate_limited_per_email(api: httpx.AsyncClient, unique: str) -> None:
    """The sixth reset request for one address within the hour is refused with 429."""
    email = f"flood{unique}@example.test"
    for _ in range(5):
        assert (await _forgot(api, email)).status_code == 202
    r = await _forgot(api, email)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


async def test_unverified_readers_get_no_notification_email_until_verified(
        api: httpx.AsyncClient, engines: Any, smtp: tuple[MailBox, int], unique: str) -> None:
    """Registration sends a verification link; until it is used the reader's mentions are not
    emailed, afterwards they are."""
    box, port = smtp
    ana = await register(api, unique, prefix="va", display_name="Ana")
    bea = await register(api, unique, prefix="vb")
    [link] = await mail_to(box, bea.email, "Confirm your email address")
    r = await api.get("/api/v1/me/email", headers=bea.headers)
    assert r.json() == {"email": bea.email, "verified": False, "pending_email": None}
    settings = worker_settings(engines, READALONG_SMTP_PORT=str(port),
                               READALONG_EMAIL_VERIFICATION="required")

    async def mention(where: str) -> None:
        async with db_and_redis(engines) as (db, redis):
            await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                         target_kind="room", target_id=f"lobby:{where}",
                         payload={"where": where})
        await run_worker(settings)

    await mention("the attic")
    assert [m for m in box.to(bea.email) if "mentioned" in str(m["Subject"])] == []
    r = await api.post("/api/v1/auth/email/verify", json={"token": token_in(link)})
    assert r.status_code == 200 and r.json()["verified"] is True
    await mention("the garden")
    [msg] = await mail_to(box, bea.email, "mentioned you")
    assert "the garden" in str(msg["Subject"])
    reuse = await api.post("/api/v1/auth/email/verify", json={"token": token_in(link)})
    assert reuse.status_code == 422


async def test_email_change_is_confirmed_before_it_replaces_the_old(
        api: httpx.AsyncClient, smtp: tuple[MailBox, int], unique: str) -> None:
    """A new address needs the password and its own confirmation; the old one is told."""
    box = smtp[0]
    cas = await register(api, unique, prefix="ec")
    new_email = f"moved{unique}@example.test"
    wrong = await api.post("/api/v1/me/email", headers=cas.headers,
                           json={"new_email": new_email, "password": "not my password"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_credentials"
    taken = await api.post("/api/v1/me/email", headers=cas.headers,
                           json={"new_email": cas.email.upper(), "password": PASSWORD})
    assert taken.status_code == 422 and taken.json()["code"] == "email_unchanged"
    r = await api.post("/api/v1/me/email", headers=cas.headers,
                       json={"new_email": new_email, "password": PASSWORD})
    assert r.status_code == 202, r.text
    state = (await api.get("/api/v1/me/email", headers=cas.headers)).json()
    assert state["email"] == cas.email and state["pending_email"] == new_email
    [confirm] = await mail_to(box, new_email, "Confirm your new email address")
    r = await api.post("/api/v1/auth/email/verify", json={"token": token_in(confirm)})
    assert r.json() == {"email": new_email, "verified": True, "pending_email": None}
    await mail_to(box, cas.email, "email address changed")
    login = await api.post("/api/v1/auth/login", json={"email": new_email,
                                                       "password": PASSWORD})
    assert login.status_code == 200


async def test_the_owner_is_told_when_two_factor_sign_in_changes(
        api: httpx.AsyncClient, smtp: tuple[MailBox, int], unique: str) -> None:
    """Turning two-factor sign-in on and off emails the account's owner each time."""
    box = smtp[0]
    dan = await register(api, unique, prefix="tfm")
    r = await api.post("/api/v1/me/2fa/enrol", headers=dan.headers, json={"password": PASSWORD})
    totp = pyotp.TOTP(r.json()["secret"])
    r = await api.post("/api/v1/me/2fa/confirm", headers=dan.headers,
                       json={"code": totp.at(time.time())})
    assert r.status_code == 200
    await mail_to(box, dan.email, "Two-factor sign-in is on")
    r = await api.post("/api/v1/me/2fa/disable", headers=dan.headers,
                       json={"password": PASSWORD, "code": r.json()["recovery_codes"][0]})
    assert r.status_code == 204
    await mail_to(box, dan.email, "Two-factor sign-in is off")


async def test_forgot_is_rate_limited_per_client_address(api: httpx.AsyncClient,
                                                         unique: str) -> None:
    """One address asking for resets of many accounts is stopped (here at 40 an hour)."""
    codes = [(await _forgot(api, f"many{i}{unique}@example.test")).status_code
             for i in range(45)]
    assert 429 in codes and codes[0] == 202


