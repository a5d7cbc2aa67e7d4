"""Two-factor sign-in with TOTP on a real server: enrolment, the code step, replay, recovery
codes, step-up to disable, and the rate limit on code attempts."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp

from tests.accounts_helpers import PASSWORD, UserSession, register


async def _enrolled(http: httpx.AsyncClient, unique: str) -> tuple[UserSession, pyotp.TOTP,
                                                                     list[str]]:
    user = await register(http, unique, prefix="tf")
    wrong = await http.post("/api/v1/me/2fa/enrol", headers=user.headers,
                            json={"password": "not it at all"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_credentials"
    r = await http.post("/api/v1/me/2fa/enrol", headers=user.headers,
                        json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["qr_svg"].startswith("<svg") and body["otpauth_uri"].startswith("otpauth://")
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == body["secret"]
    totp = pyotp.TOTP(body["secret"])
    bad = await http.post("/api/v1/me/2fa/confirm", headers=user.headers, json={"code": "000000"
                          if totp.now() != "000000" else "111111"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_code"
    r = await http.post("/api/v1/me/2fa/confirm", headers=user.headers,
                        json={"code": totp.at(time.time())})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return user, totp, codes


async def _challenge(http: httpx.AsyncClient, user: UserSession) -> str:
    r = await http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["two_factor_required"] is True and "access_token" not in body
    return str(body["challenge"])


async def _second(http: httpx.AsyncClient, challenge: str, code: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login/2fa", json={"challenge": challenge,
                                                           "code": code})


async def test_totp_login_refuses_replay_and_recovery_codes_work_once(
        http: httpx.AsyncClient, unique: str) -> None:
    """With 2FA on, a password alone gets no tokens; a fresh code does, the same code again
    does not; a recovery code works once; password + code turn 2FA off."""
    user, totp, codes = await _enrolled(http, unique)
    challenge = await _challenge(http, user)
    later = totp.at(time.time() + 30)  # the next step: not the one used to confirm
    r = await _second(http, challenge, later)
    assert r.status_code == 200 and r.json()["access_token"], r.text
    me = await http.get("/api/v1/me", headers={"Authorization":
                                               f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200
    replay = await _second(http, await _challenge(http, user), later)
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_code"

    first = await _second(http, await _challenge(http, user), codes[0])
    assert first.status_code == 200
    again = await _second(http, await _challenge(http, user), codes[0])
    assert again.status_code == 401 and again.json()["code"] == "invalid_code"

    forged = await _second(http, user.access_token, codes[1])
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_challenge"
    no_code = await http.post("/api/v1/me/2fa/disable", headers=user.headers,
                              json={"password": PASSWORD, "code": "12345678"})
    assert no_code.status_code == 401
    off = await http.post("/api/v1/me/2fa/disable", headers=user.headers,
                          json={"password": PASSWORD, "code": codes[1]})
    assert off.status_code == 204, off.text
    plain = await http.post("/api/v1/auth/login", json={"email": user.email,
                                                        "password": PASSWORD})
    assert plain.status_code == 200 and plain.json()["access_token"]


async def test_code_attempts_are_rate_limited(http: httpx.AsyncClient, unique: str) -> None:
    """Guessing codes is stopped after five tries in five minutes, even with a right one."""
    user, totp, codes = await _enrolled(http, unique)
    challenge = await _challenge(http, user)
    live = {totp.at(time.time() + d) for d in (-30, 0, 30)}
    wrong = [c for c in (f"{n:06d}" for n in range(10)) if c not in live][:5]
    statuses = [(await _second(http, challenge, c)).status_code for c in wrong]
    assert set(statuses) == {401}
    blocked = await _second(http, challenge, codes[2])
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


async def test_recovery_codes_can_be_regenerated_with_step_up(http: httpx.AsyncClient,
                                                              unique: str) -> None:
    """New recovery codes need the password and a code; the old set stops working."""
    user, _totp, codes = await _enrolled(http, unique)
    r = await http.post("/api/v1/me/2fa/recovery-codes", headers=user.headers,
                        json={"password": PASSWORD, "code": codes[0]})
    assert r.status_code == 200
    fresh = r.json()["recovery_codes"]
    old = await _second(http, await _challenge(http, user), codes[1])
    assert old.status_code == 401
    new = await _second(http, await _challenge(http, user), fresh[0])
    assert new.status_code == 200
