"""Signed unsubscribe tokens: work without login, bound to one user and one type (or all email)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from domain.errors import Invalid

ALL = "*"


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"readalong-unsubscribe:" + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_unsubscribe_token(secret: str, user_id: int, type_name: str = ALL) -> str:
    body = f"{user_id}:{type_name}".encode()
    sig = hmac.new(_key(secret), body, hashlib.sha256).digest()[:18]
    return f"{_b64(body)}.{_b64(sig)}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, str]:
    """(user_id, type name or "*"); Invalid when the token was not signed by us."""
    bad = Invalid("this unsubscribe link is not valid", code="invalid_unsubscribe_token",
                  field="token")
    try:
        body_b64, sig_b64 = token.split(".")
        body = base64.urlsafe_b64decode(body_b64 + "=" * (-len(body_b64) % 4))
        sig = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
        expected = hmac.new(_key(secret), body, hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(sig, expected):
            raise bad
        user, _, type_name = body.decode().partition(":")
        return int(user), type_name
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
