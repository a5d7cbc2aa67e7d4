"""Accounts over REST: register, login, refresh rotation and reuse detection, logout, bad tokens,
uniqueness, the password policy and roles."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.settings import DEFAULT_SECRET_KEY
from tests.accounts_helpers import PASSWORD, UserSession, login, register
from tests.support import ROOT

ME = "/api/v1/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["code"] == code, body
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def claims_for(user: UserSession, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"sub": str(user.id), "role": "reader", "iat": now,
                                 "exp": now + 600, "jti": "x" * 32, "iss": "readalong"}
    claims.update(overrides)
    return claims


async def test_register_then_me_and_login(http: httpx.AsyncClient, unique: str) -> None:
    """A new account can read its own profile, and logs in again with its password only."""
    user = await register(http, unique, display_name="  Ada   Lovelace ")
    me = (await http.get(ME, headers=user.headers)).json()
    assert me["handle"] == user.handle and me["email"] == user.email
    assert me["role"] == "reader" and me["display_name"] == "Ada Lovelace"
    assert me["followers"] == 0 and me["visibility"] == "public"
    tokens = await login(http, user)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert (await http.get(ME, headers=bearer(tokens["access_token"]))).status_code == 200
    # the email is matched case-insensitively
    r = await http.post("/api/v1/auth/login", json={"email": user.email.upper(),
                                                     "password": PASSWORD})
    assert r.status_code == 200
    wrong = await http.post("/api/v1/auth/login", json={"email": user.email,
                                                         "password": PASSWORD + "x"})
    assert_problem(wrong, 401, "invalid_credentials")
    unknown = await http.post("/api/v1/auth/login", json={"email": f"no{unique}@example.test",
                                                           "password": PASSWORD})
    assert_problem(unknown, 401, "invalid_credentials")


async def test_me_requires_a_token(http: httpx.AsyncClient) -> None:
    """Without a token, or with a non-bearer header, /me answers 401 problem details."""
    assert_problem(await http.get(ME), 401, "auth_required")
    assert_problem(await http.get(ME, headers={"Authorization": "Basic abc"}), 401,
                   "invalid_token")
    assert_problem(await http.get(ME, headers=bearer("not-a-jwt")), 401, "invalid_token")


async def test_refresh_rotates_and_reuse_revokes_the_family(http: httpx.AsyncClient,
                                                            unique: str) -> None:
    """Each refresh hands out a new pair; presenting a used refresh token kills the whole
    family: its newest refresh token and its access tokens stop working too."""
    user = await register(http, unique)
    other_device = await login(http, user)
    first = await http.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200, first.text
    new = first.json()
    assert new["refresh_token"] != user.refresh_token
    assert (await http.get(ME, headers=bearer(new["access_token"]))).status_code == 200

    reuse = await http.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(reuse, 401, "refresh_token_reused")
    dead = await http.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert_problem(dead, 401, "refresh_token_revoked")
    assert_problem(await http.get(ME, headers=bearer(new["access_token"])), 401, "token_revoked")
    assert_problem(await http.get(ME, headers=user.headers), 401, "token_revoked")
    # another login of the same user (another family) is untouched
    assert (await http.get(ME, headers=bearer(other_device["access_token"]))).status_code == 200
    again = await http.post("/api/v1/auth/refresh",
                            json={"refresh_token": other_device["refresh_token"]})
    assert again.status_code == 200


async def test_unknown_refresh_token_is_401(http: httpx.AsyncClient) -> None:
    """A refresh token the server never issued is refused, and a missing one is a 400."""
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert_problem(r, 401, "invalid_refresh_token")
    assert (await http.post("/api/v1/auth/refresh", json={})).status_code == 400


async def test_logout_revokes_this_device_only(http: httpx.AsyncClient, unique: str) -> None:
    """Logging out kills this session's access and refresh tokens; other devices stay in."""
    user = await register(http, unique)
    other = await login(http, user)
    r = await http.post("/api/v1/auth/logout", headers=user.headers)
    assert r.status_code == 204, r.text
    assert_problem(await http.get(ME, headers=user.headers), 401, "token_revoked")
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(r, 401, "refresh_token_revoked")
    assert (await http.get(ME, headers=bearer(other["access_token"]))).status_code == 200


async def test_revoked_token_reads_nothing_on_the_read_only_routes(
        http: httpx.AsyncClient, unique: str) -> None:
    """The profile and feed routes check revocation while they read (server/deps.py Reader):
    a logged-out token still gets 401 token_revoked there, also for a handle that does not
    exist (never the 404 it would have read), while another device's token and an anonymous
    caller are answered as before."""
    user = await register(http, unique)
    other = await login(http, user)
    page = f"/api/v1/users/{user.handle}"
    assert (await http.get(page, headers=user.headers)).status_code == 200
    assert (await http.get("/api/v1/feed", headers=user.headers)).status_code == 200
    assert (await http.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204
    for path in (page, "/api/v1/users/nobody-here-at-all", "/api/v1/feed",
                 "/api/v1/feed?cursor=x1"):
        assert_problem(await http.get(path, headers=user.headers), 401, "token_revoked")
    mine = await http.get(page, headers=bearer(other["access_token"]))
    assert mine.status_code == 200 and mine.json()["relation"] is None  # oneself
    assert (await http.get(page)).json()["handle"] == user.handle
    assert_problem(await http.get("/api/v1/feed"), 401, "auth_required")
    assert_problem(await http.get("/api/v1/feed?limit=0", headers=bearer(other["access_token"])),
                   422, "invalid_limit", "limit")


async def test_logout_with_only_a_refresh_token(http: httpx.AsyncClient, unique: str) -> None:
    """A client whose access token expired logs out by sending its refresh token."""
    user = await register(http, unique)
    r = await http.post("/api/v1/auth/logout", json={"refresh_token": user.refresh_token})
    assert r.status_code == 204, r.text
    assert_problem(await http.get(ME, headers=user.headers), 401, "token_revoked")
    assert_problem(await http.post("/api/v1/auth/logout"), 401, "auth_required")
    r = await http.post("/api/v1/auth/logout", json={"refresh_token": "made-up"})
    assert_problem(r, 401, "invalid_refresh_token")


async def test_logout_everywhere(http: httpx.AsyncClient, unique: str) -> None:
    """Logging out everywhere kills every session of the user."""
    user = await register(http, unique)
    other = await login(http, user)
    assert (await http.post("/api/v1/auth/logout-all", headers=user.headers)).status_code == 204
    assert_problem(await http.get(ME, headers=bearer(other["access_token"])), 401,
                   "token_revoked")
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_problem(r, 401, "refresh_token_revoked")
    # a fresh login works again
    fresh = await login(http, user)
    assert (await http.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200


async def test_expired_token_rejected(http: httpx.AsyncClient, unique: str) -> None:
    """A correctly signed but expired access token is refused with token_expired."""
    user = await register(http, unique)
    past = int(time.time()) - 3600
    token = jwt.encode(claims_for(user, iat=past - 900, exp=past), DEFAULT_SECRET_KEY,
                       algorithm="HS256")
    assert_problem(await http.get(ME, headers=bearer(token)), 401, "token_expired")


async def test_tampered_token_rejected(http: httpx.AsyncClient, unique: str) -> None:
    """Changing the payload of a real token (to become admin) breaks its signature."""
    user = await register(http, unique)
    header, payload, signature = user.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = f"{header}.{b64(claims)}.{signature}"
    assert_problem(await http.get(ME, headers=bearer(forged)), 401, "invalid_token")
    other_secret = jwt.encode(claims_for(user), "not-the-server-secret-" * 2, algorithm="HS256")
    assert_problem(await http.get(ME, headers=bearer(other_secret)), 401, "invalid_token")


async def test_alg_none_rejected(http: httpx.AsyncClient, unique: str) -> None:
    """An unsigned token (`alg: none`), in any spelling, is refused."""
    user = await register(http, unique)
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_for(user, role='admin'))}."
        assert_problem(await http.get(ME, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_hs_rs_confusion_rejected(http: httpx.AsyncClient, unique: str) -> None:
    """RS256 tokens, HS256 tokens keyed with a public key, and other HMAC algorithms are refused."""
    user = await register(http, unique)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    rs = jwt.encode(claims_for(user), key, algorithm="RS256")
    assert_problem(await http.get(ME, headers=bearer(rs)), 401, "invalid_token")
    # the classic confusion: HMAC with the public key as the secret (built by hand, since
    # pyjwt refuses to use a PEM key as an HMAC secret)
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims_for(user))}"
    sig = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input.encode(),
                                            hashlib.sha256).digest()).decode().rstrip("=")
    assert_problem(await http.get(ME, headers=bearer(f"{signing_input}.{sig}")), 401,
                   "invalid_token")
    hs512 = jwt.encode(claims_for(user), DEFAULT_SECRET_KEY, algorithm="HS512")
    assert_problem(await http.get(ME, headers=bearer(hs512)), 401, "invalid_token")


async def test_duplicate_handle_or_email_in_other_case_is_409(http: httpx.AsyncClient,
                                                              unique: str) -> None:
    """Handles and emails are unique regardless of case; each clash names its field."""
    user = await register(http, unique)
    r = await http.post("/api/v1/auth/register", json={
        "email": f"other{unique}@example.test", "handle": user.handle.upper(),
        "display_name": "X", "password": PASSWORD})
    assert_problem(r, 409, "handle_taken", "handle")
    r = await http.post("/api/v1/auth/register", json={
        "email": user.email.upper(), "handle": f"o{unique}", "display_name": "X",
        "password": PASSWORD})
    assert_problem(r, 409, "email_taken", "email")


@pytest.mark.parametrize(("password", "code"), [
    ("short", "password_too_short"),
    ("x" * 129, "password_too_long"),
    ("{handle}-is-me", "password_contains_identity"),
    ("mail:{email}", "password_contains_identity"),
    ("password123", "password_too_common"),
    ("aaaaaaaaaaaa", "password_too_common"),
])
async def test_weak_password_is_422_naming_the_field(http: httpx.AsyncClient, unique: str,
                                                     password: str, code: str) -> None:
    """A password breaking the policy is refused with its code and field, and nothing is stored."""
    handle, email = f"w{unique}", f"w{unique}@example.test"
    r = await http.post("/api/v1/auth/register", json={
        "email": email, "handle": handle, "display_name": "W",
        "password": password.format(handle=handle.upper(), email=email)})
    assert_problem(r, 422, code, "password")
    # nothing was stored: the same handle and email are still free
    await register(http, unique, prefix="w")


@pytest.mark.parametrize(("field", "value", "code"), [
    ("handle", "ab", "handle_length"),
    ("handle", "has space", "handle_characters"),
    ("handle", "12345", "handle_numeric"),
    ("handle", "Admin", "handle_reserved"),
    ("email", "not-an-email", "email_invalid"),
    ("display_name", "   ", "display_name_required"),
    ("display_name", "x" * 61, "display_name_length"),
    ("display_name", "bell\u0007", "display_name_characters"),
])
async def test_bad_registration_fields_are_422(http: httpx.AsyncClient, unique: str, field: str,
                                               value: str, code: str) -> None:
    """Bad handles, emails and display names are refused with a stable code and the field."""
    body = {"email": f"f{unique}@example.test", "handle": f"f{unique}", "display_name": "F",
            "password": PASSWORD}
    body[field] = value
    assert_problem(await http.post("/api/v1/auth/register", json=body), 422, code, field)


async def test_malformed_register_body_is_validation_problem(http: httpx.AsyncClient) -> None:
    """A missing or mistyped field gives a validation problem naming the field path."""
    r = await http.post("/api/v1/auth/register", json={"email": "a@b.cd", "handle": "abc",
                                                        "display_name": "A"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "validation_failed"
    assert "password" in json.dumps(body["errors"])
    r = await http.post("/api/v1/auth/register", json={"email": 5, "handle": "abc",
                                                        "display_name": "A", "password": "p"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "email"


def createadmin(env: dict[str, str], email: str, handle: str,
                password: str) -> subprocess.CompletedProcess[str]:
    """Run `readalong createadmin` against the test database."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "createadmin", "--email", email, "--handle", handle,
         "--password", password],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


async def test_roles_reader_cannot_change_admin_can(http: httpx.AsyncClient, unique: str,
                                                    engines) -> None:  # type: ignore[no-untyped-def]
    """`readalong createadmin` makes an admin who can promote a reader (whose old tokens die);
    a reader trying the same is refused with 403."""
    reader = await register(http, unique, prefix="r")
    other = await register(http, unique, prefix="o")
    r = await http.put(f"/api/v1/admin/users/{other.handle}/role", json={"role": "admin"},
                       headers=reader.headers)
    assert_problem(r, 403, "admin_only")

    done = createadmin(engines.env(), f"adm{unique}@example.test", f"adm{unique}", PASSWORD)
    assert done.returncode == 0, done.stderr
    again = createadmin(engines.env(), f"adm{unique}@example.test", f"adm2{unique}", PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    r = await http.post("/api/v1/auth/login", json={"email": f"adm{unique}@example.test",
                                                     "password": PASSWORD})
    admin = r.json()
    assert admin["role"] == "admin"

    r = await http.put(f"/api/v1/admin/users/{reader.handle}/role", json={"role": "overlord"},
                       headers=bearer(admin["access_token"]))
    assert_problem(r, 422, "role_invalid", "role")
    r = await http.put(f"/api/v1/admin/users/{reader.handle.upper()}/role",
                       json={"role": "moderator"}, headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and r.json()["role"] == "moderator"
    # the reader's old token (role "reader") is revoked; a refresh hands out one with the new role
    assert_problem(await http.get(ME, headers=reader.headers), 401, "token_revoked")
    renewed = await http.post("/api/v1/auth/refresh",
                              json={"refresh_token": reader.refresh_token})
    assert renewed.json()["role"] == "moderator"
    me = await http.get(ME, headers=bearer(renewed.json()["access_token"]))
    assert me.status_code == 200 and me.json()["role"] == "moderator"
    r = await http.put(f"/api/v1/admin/users/adm{unique}/role", json={"role": "reader"},
                       headers=bearer(admin["access_token"]))
    assert_problem(r, 403, "cannot_change_own_role")


async def test_logout_tells_the_hub_to_close_sockets(http: httpx.AsyncClient, unique: str,
                                                     engines) -> None:  # type: ignore[no-untyped-def]
    """Logging out publishes a revoke control message (user and family) for every hub node."""
    import asyncio

    from redis.asyncio import Redis

    from domain.keys import HUB_CONTROL

    user = await register(http, unique)
    family = jwt.decode(user.access_token, options={"verify_signature": False})["fam"]
    redis = Redis.from_url(engines.redis_url)
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(HUB_CONTROL)
        assert (await http.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204

        async def next_revoke() -> dict[str, object]:
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    body = json.loads(msg["data"])
                    if body.get("user_id") == user.id:
                        return body  # type: ignore[no-any-return]

        body = await asyncio.wait_for(next_revoke(), 10)
        assert body == {"type": "revoke", "user_id": user.id, "family": family}
    finally:
        await pubsub.aclose()
        await redis.aclose()


@pytest.mark.parametrize(("change", "code"), [
    ({"iss": "someone-else"}, "invalid_token"),
    ({"jti": None}, "invalid_token"),
    ({"role": "superuser"}, "invalid_token"),
    ({"sub": "not-a-number"}, "invalid_token"),
    ({"exp": 1}, "token_expired"),
    ({"aud": "readalong-2fa"}, "invalid_token"),  # a sign-in challenge is no access token
    ({"iat": 4_000_000_000}, "invalid_token"),  # issued in the future
    ({"sub": 1}, "invalid_token"),  # the subject claim is a string
])
def test_verify_access_token_rejects_bad_claims(change: dict[str, object], code: str) -> None:
    """Tokens signed with the right key but with a foreign issuer, a missing jti, an unknown
    role, a non-numeric subject or a past expiry are refused with a stable code."""
    from domain.accounts.tokens import verify_access_token
    from domain.errors import Unauthorized

    now = int(time.time())
    claims: dict[str, object] = {"sub": "1", "role": "reader", "iat": now, "exp": now + 60,
                                 "jti": "j", "iss": "readalong"}
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    token = jwt.encode(claims, "k" * 40, algorithm="HS256")
    with pytest.raises(Unauthorized) as caught:
        verify_access_token("k" * 40, token)
    assert caught.value.code == code


def test_issued_token_round_trips_with_family_and_ms_issue_time() -> None:
    """An issued token verifies back to the same user, role, family and issue time."""
    from domain.accounts.tokens import issue_access_token, verify_access_token
    from domain.errors import Unauthorized

    token, exp = issue_access_token("k" * 40, 7, "moderator", 900, family="fam1", now=1e9 + 0.25)
    assert exp == 1_000_000_900
    with pytest.raises(Unauthorized) as caught:  # expired long ago: exp is enforced
        verify_access_token("k" * 40, token)
    assert caught.value.code == "token_expired"
    # the TTL is what was asked: issued 890 s ago it still verifies, 910 s ago it has expired
    assert verify_access_token("k" * 40, issue_access_token(
        "k" * 40, 7, "moderator", 900, now=time.time() - 890)[0]).user_id == 7
    with pytest.raises(Unauthorized) as caught:
        verify_access_token("k" * 40, issue_access_token("k" * 40, 7, "moderator", 900,
                                                         now=time.time() - 910)[0])
    assert caught.value.code == "token_expired"
    token, exp = issue_access_token("k" * 40, 7, "moderator", 900, family="fam1")
    p = verify_access_token("k" * 40, token)
    assert (p.user_id, p.role, p.family, p.exp) == (7, "moderator", "fam1", exp)
    assert p.iat * 1000 <= p.issued_ms < p.iat * 1000 + 1000


async def test_concurrent_refreshes_with_one_token_let_only_one_win(http: httpx.AsyncClient,
                                                                    unique: str) -> None:
    """Two simultaneous refreshes with the same token: one gets a new pair, the other is
    treated as reuse, and the family (including the winner's new tokens) is revoked."""
    import asyncio

    user = await register(http, unique)
    body = {"refresh_token": user.refresh_token}
    results = await asyncio.gather(*(http.post("/api/v1/auth/refresh", json=body)
                                     for _ in range(2)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 401], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 401)
    assert loser.json()["code"] == "refresh_token_reused"
    winner = next(r for r in results if r.status_code == 200).json()
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert_problem(r, 401, "refresh_token_revoked")
    assert_problem(await http.get(ME, headers=bearer(winner["access_token"])), 401,
                   "token_revoked")


async def test_expired_refresh_token_is_refused(http: httpx.AsyncClient, unique: str,
                                                engines) -> None:  # type: ignore[no-untyped-def]
    """A refresh token past its lifetime is refused with refresh_token_expired, and pruning
    removes long-expired tokens without touching live ones."""
    from domain.accounts import refresh as refresh_tokens
    from domain.db import Database

    user = await register(http, unique)
    db = Database(engines.database_url, pool_size=1)
    await db.connect()
    try:
        async with db.pool.acquire() as conn:
            issued, _ = await refresh_tokens.issue(conn, user.id, ttl=-5)
        r = await http.post("/api/v1/auth/refresh", json={"refresh_token": issued.token})
        assert_problem(r, 401, "refresh_token_expired")
        # pruning drops long-expired tokens only; the user's live token keeps working
        assert await refresh_tokens.prune(db.pool, grace_seconds=0) >= 1
        r = await http.post("/api/v1/auth/refresh", json={"refresh_token": issued.token})
        assert_problem(r, 401, "invalid_refresh_token")
        r = await http.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
        assert r.status_code == 200
    finally:
        await db.close()


async def test_password_change_revokes_other_sessions(http: httpx.AsyncClient,
                                                      unique: str) -> None:
    """Changing the password needs the current one, follows the policy, logs every other
    session out, and only the new password works afterwards."""
    user = await register(http, unique)
    other = await login(http, user)
    url = "/api/v1/me/password"
    r = await http.post(url, headers=user.headers,
                        json={"current_password": "wrong-one-123", "new_password": "new pass 42!"})
    assert_problem(r, 422, "invalid_credentials", "current_password")
    r = await http.post(url, headers=user.headers,
                        json={"current_password": PASSWORD, "new_password": "short"})
    assert_problem(r, 422, "password_too_short", "password")
    r = await http.post(url, headers=user.headers,
                        json={"current_password": PASSWORD, "new_password": "new pass 42!"})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert_problem(await http.get(ME, headers=bearer(other["access_token"])), 401,
                   "token_revoked")
    r = await http.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_problem(r, 401, "refresh_token_revoked")
    assert (await http.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    r = await http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(r, 401, "invalid_credentials")
    r = await http.post("/api/v1/auth/login", json={"email": user.email,
                                                     "password": "new pass 42!"})
    assert r.status_code == 200
