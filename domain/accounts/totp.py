"""Two-factor sign-in with TOTP (RFC 6238: 30 s steps, 6 digits, SHA-1) and recovery codes.

- The secret is encrypted at rest (Fernet, key derived from READALONG_SECRET_KEY) and shown
  once, at enrolment, as an `otpauth://` URI and a QR code (SVG, segno).
- A code is accepted for the current step ±1; the step it matched is stored (`last_step`) and
  only a later step is accepted next time, so a used code (or an older one) is refused.
- Ten recovery codes are shown once, at confirmation; only HMAC-SHA256(secret key, code) is
  stored (they are random, so a keyed hash is enough); each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time

import msgspec
import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

from domain.accounts.passwords import passwords_for
from domain.db import Database
from domain.errors import Conflict, Invalid, Unauthorized
from domain.settings import Settings

ISSUER = "Readalong"
RECOVERY_CODES = 10


class Enrolment(msgspec.Struct, frozen=True):
    """Shown once: the secret, its otpauth URI and the same URI as a QR code in SVG."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodes(msgspec.Struct, frozen=True):
    """Shown once: single-use codes that stand in for an authenticator code."""

    recovery_codes: list[str]


def _fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(b"readalong-totp:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _code_hash(settings: Settings, code: str) -> str:
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hmac.new(settings.secret_key.encode(), normal.encode(), hashlib.sha256).hexdigest()


async def confirm_password(db: Database, settings: Settings, user_id: int,
                          password: str) -> str:
    row = await db.pool.fetchrow("SELECT email, password_hash FROM users WHERE id = $1", user_id)
    if row is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    if not isinstance(password, str) or len(password) > 1024 or \
            not await passwords_for(settings).verify(row["password_hash"], password):
        raise Invalid("the password is wrong", code="invalid_credentials", field="password")
    return str(row["email"])


async def enabled(db: Database, user_id: int) -> bool:
    return bool(await db.pool.fetchval(
        "SELECT 1 FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL", user_id))


async def enrol(db: Database, settings: Settings, user_id: int, password: str) -> Enrolment:
    """Step-up with the password; a new (unconfirmed) secret replaces an unconfirmed one."""
    email = await confirm_password(db, settings, user_id, password)
    if await enabled(db, user_id):
        raise Conflict("two-factor sign-in is already on", code="totp_enabled")
    secret = pyotp.random_base32()
    await db.pool.execute(
        "INSERT INTO user_totp (user_id, secret_enc) VALUES ($1, $2) ON CONFLICT (user_id) "
        "DO UPDATE SET secret_enc = EXCLUDED.secret_enc, last_step = 0, created_at = now()",
        user_id, _fernet(settings).encrypt(secret.encode()).decode())
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, scale=4)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=out.getvalue().decode())


async def _use_totp(db: Database, settings: Settings, user_id: int, code: str,
                    confirmed: bool) -> bool:
    """True when `code` matches a step later than the last one used (which it then becomes)."""
    row = await db.pool.fetchrow(
        "SELECT secret_enc, last_step FROM user_totp WHERE user_id = $1 AND "
        "(confirmed_at IS NOT NULL) = $2", user_id, confirmed)
    if row is None or not code.isdigit() or len(code) != 6:
        return False
    try:
        secret = _fernet(settings).decrypt(row["secret_enc"].encode()).decode()
    except InvalidToken:
        return False
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(time.time())
    for step in (now_step - 1, now_step, now_step + 1):
        if step > row["last_step"] and hmac.compare_digest(totp.generate_otp(step), code):
            won = await db.pool.fetchval(
                "UPDATE user_totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2 "
                "RETURNING 1", user_id, step)
            return bool(won)
    return False


async def _use_recovery(db: Database, settings: Settings, user_id: int, code: str) -> bool:
    return bool(await db.pool.fetchval(
        "UPDATE user_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 "
        "AND used_at IS NULL RETURNING 1", user_id, _code_hash(settings, code)))


async def check_code(db: Database, settings: Settings, user_id: int, code: str) -> str:
    """A second factor: a fresh TOTP code or an unused recovery code (which of the two it
    was: `totp` / `recovery`); else 401."""
    code = (code or "").strip()[:64]
    if await _use_totp(db, settings, user_id, code.replace(" ", ""), confirmed=True):
        return "totp"
    if await _use_recovery(db, settings, user_id, code):
        return "recovery"
    raise Unauthorized("the code is wrong or was already used", code="invalid_code")


async def _new_codes(db: Database, settings: Settings, user_id: int) -> RecoveryCodes:
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            [(user_id, _code_hash(settings, c)) for c in codes])
    return RecoveryCodes(recovery_codes=codes)


async def confirm(db: Database, settings: Settings, user_id: int, code: str) -> RecoveryCodes:
    """The first code from the authenticator turns 2FA on and yields the recovery codes."""
    if await enabled(db, user_id):
        raise Conflict("two-factor sign-in is already on", code="totp_enabled")
    if not await _use_totp(db, settings, user_id, (code or "").strip()[:16], confirmed=False):
        raise Invalid("the code is wrong; enrol again if the QR code was lost",
                      code="invalid_code", field="code")
    await db.pool.execute("UPDATE user_totp SET confirmed_at = now() WHERE user_id = $1",
                          user_id)
    return await _new_codes(db, settings, user_id)


async def disable(db: Database, settings: Settings, user_id: int, password: str,
                  code: str) -> None:
    """Step-up (password and a code) turns 2FA off and drops the recovery codes."""
    await confirm_password(db, settings, user_id, password)
    if not await enabled(db, user_id):
        raise Conflict("two-factor sign-in is off", code="totp_disabled")
    await check_code(db, settings, user_id, code)
    await db.pool.execute("DELETE FROM user_totp WHERE user_id = $1", user_id)
    await db.pool.execute("DELETE FROM user_recovery_codes WHERE user_id = $1", user_id)


async def regenerate(db: Database, settings: Settings, user_id: int, password: str,
                     code: str) -> RecoveryCodes:
    """Step-up (password and a code): a new set of recovery codes; the old set dies."""
    await confirm_password(db, settings, user_id, password)
    if not await enabled(db, user_id):
        raise Conflict("two-factor sign-in is off", code="totp_disabled")
    await check_code(db, settings, user_id, code)
    return await _new_codes(db, settings, user_id)
