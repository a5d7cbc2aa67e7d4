"""Passkeys (WebAuthn, py_webauthn): register one while signed in, then sign in without a
password. The relying-party id and the origin come from settings (default: `public_url`).

Each ceremony's challenge lives in Redis for five minutes under its own value and is used
once (GETDEL): the response's clientDataJSON names it, so the server finds what it issued and
for whom. Sign-in requires user verification (the authenticator's PIN or biometrics), so a
passkey stands for both factors; a sign counter that does not grow is refused (a cloned key).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Conflict, Invalid, NotFound, Unauthorized
from domain.keys import WEBAUTHN_CHALLENGE
from domain.settings import Settings

CHALLENGE_TTL = 300


class Passkey(msgspec.Struct, frozen=True):
    id: int
    created_at: Any
    last_used_at: Any


def rp_id(settings: Settings) -> str:
    return settings.webauthn_rp_id or (urlsplit(settings.public_url).hostname or "localhost")


def origin(settings: Settings) -> str:
    return (settings.webauthn_origin or settings.public_url).rstrip("/")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _remember(redis: Redis, challenge: bytes, kind: str, user_id: int | None) -> None:
    await redis.set(WEBAUTHN_CHALLENGE + _b64(challenge),
                    orjson.dumps({"kind": kind, "user": user_id}), ex=CHALLENGE_TTL)


async def _recall(redis: Redis, credential: dict[str, Any], kind: str) -> tuple[bytes, Any]:
    """The challenge this response answers (used once) and whom it was issued for."""
    bad = Invalid("this passkey response is not for a ceremony we started",
                  code="passkey_challenge_invalid", field="credential")
    try:
        client_data = json.loads(_unb64(credential["response"]["clientDataJSON"]))
        challenge = str(client_data["challenge"])[:200]
    except (KeyError, TypeError, ValueError) as exc:
        raise bad from exc
    raw = await redis.getdel(WEBAUTHN_CHALLENGE + challenge)
    if raw is None:
        raise bad
    issued = orjson.loads(raw)
    if issued["kind"] != kind:
        raise bad
    return _unb64(challenge), issued["user"]


async def registration_options(redis: Redis, settings: Settings, db: Database,
                               user_id: int) -> dict[str, Any]:
    row = await db.pool.fetchrow("SELECT handle, display_name FROM users WHERE id = $1", user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    import webauthn  # (py_webauthn on the first ceremony: ~120 ms off every process start)

    options = webauthn.generate_registration_options(
        rp_id=rp_id(settings), rp_name="Readalong", user_name=row["handle"],
        user_id=str(user_id).encode(), user_display_name=row["display_name"])
    await _remember(redis, options.challenge, "register", user_id)
    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result


async def register(redis: Redis, settings: Settings, db: Database, user_id: int,
                   credential: dict[str, Any]) -> Passkey:
    challenge, issued_for = await _recall(redis, credential, "register")
    if issued_for != user_id:
        raise Invalid("this passkey response is not for a ceremony we started",
                      code="passkey_challenge_invalid", field="credential")
    import webauthn
    from webauthn.helpers.exceptions import InvalidRegistrationResponse, WebAuthnException

    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge,
            expected_rp_id=rp_id(settings), expected_origin=origin(settings))
    except (InvalidRegistrationResponse, WebAuthnException, KeyError, TypeError,
            ValueError, AttributeError) as exc:
        raise Invalid("the passkey could not be verified", code="passkey_invalid",
                      field="credential") from exc
    row = await db.pool.fetchrow(
        "INSERT INTO user_passkeys (user_id, credential_id, public_key, sign_count) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (credential_id) DO NOTHING "
        "RETURNING id, created_at, last_used_at", user_id, verified.credential_id,
        verified.credential_public_key, verified.sign_count)
    if row is None:
        raise Invalid("this passkey is already registered", code="passkey_exists",
                      field="credential")
    return Passkey(**dict(row))


async def authentication_options(redis: Redis, settings: Settings) -> dict[str, Any]:
    import webauthn
    from webauthn.helpers.structs import UserVerificationRequirement

    options = webauthn.generate_authentication_options(
        rp_id=rp_id(settings), user_verification=UserVerificationRequirement.REQUIRED)
    await _remember(redis, options.challenge, "authenticate", None)
    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result


async def _verified(settings: Settings, db: Database, row: Any, credential: dict[str, Any],
                    challenge: bytes, require_uv: bool) -> None:
    """Check an assertion against a stored passkey row and move its sign counter."""
    import webauthn
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse, WebAuthnException

    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge,
            expected_rp_id=rp_id(settings), expected_origin=origin(settings),
            credential_public_key=bytes(row["public_key"]),
            credential_current_sign_count=int(row["sign_count"]),
            require_user_verification=require_uv)
    except (InvalidAuthenticationResponse, WebAuthnException, KeyError, TypeError,
            ValueError, AttributeError) as exc:
        raise Unauthorized("the passkey was not accepted", code="passkey_refused") from exc
    await db.pool.execute("UPDATE user_passkeys SET sign_count = $2, last_used_at = now() "
                          "WHERE id = $1", row["id"], verified.new_sign_count)


def _credential_id(credential: dict[str, Any]) -> bytes:
    try:
        return _unb64(str(credential["rawId"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise Unauthorized("the passkey was not accepted", code="passkey_refused") from exc


async def authenticate(redis: Redis, settings: Settings, db: Database,
                       credential: dict[str, Any]) -> tuple[int, str]:
    """Verify an assertion; (user id, role) of the passkey's owner."""
    challenge, _ = await _recall(redis, credential, "authenticate")
    row = await db.pool.fetchrow(
        "SELECT p.id, p.user_id, p.public_key, p.sign_count, u.role FROM user_passkeys p "
        "JOIN users u ON u.id = p.user_id WHERE p.credential_id = $1",
        _credential_id(credential))
    if row is None:
        raise Unauthorized("the passkey was not accepted", code="passkey_refused")
    await _verified(settings, db, row, credential, challenge, require_uv=True)
    return int(row["user_id"]), str(row["role"])


async def second_factor_options(redis: Redis, settings: Settings, db: Database,
                                user_id: int) -> dict[str, Any]:
    """Request options naming the account's own passkeys (the second step of a sign-in)."""
    ids = [bytes(r["credential_id"]) for r in await db.pool.fetch(
        "SELECT credential_id FROM user_passkeys WHERE user_id = $1", user_id)]
    import webauthn
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

    options = webauthn.generate_authentication_options(
        rp_id=rp_id(settings), user_verification=UserVerificationRequirement.PREFERRED,
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in ids])
    await _remember(redis, options.challenge, "second", user_id)
    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result


async def verify_second_factor(redis: Redis, settings: Settings, db: Database, user_id: int,
                               credential: dict[str, Any]) -> None:
    """An assertion by one of `user_id`'s passkeys, for a challenge issued to that account
    (user verification not required: the password was the first factor)."""
    challenge, issued_for = await _recall(redis, credential, "second")
    if issued_for != user_id:
        raise Invalid("this passkey challenge is for another sign-in",
                      code="passkey_challenge_invalid", field="credential")
    row = await db.pool.fetchrow(
        "SELECT id, public_key, sign_count FROM user_passkeys "
        "WHERE credential_id = $1 AND user_id = $2", _credential_id(credential), user_id)
    if row is None:
        raise Unauthorized("the passkey was not accepted", code="passkey_refused")
    await _verified(settings, db, row, credential, challenge, require_uv=False)


async def set_second_factor(db: Database, user_id: int, enabled: bool) -> None:
    """Turn "a passkey as the second step" on (needs a registered passkey) or off."""
    if enabled and not await db.pool.fetchval(
            "SELECT 1 FROM user_passkeys WHERE user_id = $1 LIMIT 1", user_id):
        raise Conflict("register a passkey first", code="no_passkey")
    await db.pool.execute("UPDATE users SET passkey_second_factor = $2 WHERE id = $1",
                          user_id, enabled)


async def mine(db: Database, user_id: int) -> tuple[list[Passkey], bool]:
    """The account's passkeys (oldest first) and whether one is asked for at sign-in."""
    rows = await db.pool.fetch(
        "SELECT id, created_at, last_used_at FROM user_passkeys WHERE user_id = $1 "
        "ORDER BY id", user_id)
    on = await db.pool.fetchval(
        "SELECT passkey_second_factor FROM users WHERE id = $1", user_id)
    return [Passkey(**dict(r)) for r in rows], bool(on) and bool(rows)


async def remove(db: Database, user_id: int, passkey_id: int) -> None:
    """Remove one of the account's passkeys; removing the last one also stops asking for a
    passkey at sign-in (the password alone, or the authenticator code, is then the way in)."""
    async with db.pool.acquire() as conn, conn.transaction():
        gone = await conn.fetchval(
            "DELETE FROM user_passkeys WHERE id = $1 AND user_id = $2 RETURNING id",
            passkey_id, user_id)
        if gone is None:
            raise NotFound(f"no passkey {passkey_id}", code="passkey_not_found")
        await conn.execute(
            "UPDATE users SET passkey_second_factor = false WHERE id = $1 AND NOT EXISTS "
            "(SELECT 1 FROM user_passkeys WHERE user_id = $1)", user_id)
