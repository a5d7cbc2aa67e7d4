"""Access tokens: short-lived HS256 JWTs with sub, exp, iat, jti and role; verified strictly."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import time
import uuid
from typing import Any

import jwt
import msgspec

from domain.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "readalong"
ROLES = ("reader", "moderator", "admin")


class Principal(msgspec.Struct, frozen=True):
    """Who is calling, as proven by a verified access token."""

    user_id: int
    role: str
    jti: str
    exp: int
    family: str | None = None
    iat: int = 0
    issued_ms: int = 0  # issue time in milliseconds (claim `ims`), for per-user revocation

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def issue_access_token(secret: str, user_id: int, role: str, ttl: int,
                       family: str | None = None, now: float | None = None) -> tuple[str, int]:
    """Return (token, expiry epoch seconds)."""
    now = now if now is not None else time.time()
    issued = int(now)
    exp = issued + ttl
    claims = {"sub": str(user_id), "role": role, "iat": issued, "exp": exp,
              "jti": uuid.uuid4().hex, "iss": ISSUER, "ims": int(now * 1000)}
    if family:
        claims["fam"] = family
    return jwt.encode(claims, secret, algorithm=ALGORITHM), exp


_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")


def _segment(text: str) -> bytes:
    """A canonical unpadded base64url segment decoded (else ValueError): binascii directly,
    as `base64.urlsafe_b64decode` does under a few layers of Python."""
    data = text.encode("ascii")  # (UnicodeEncodeError is a ValueError)
    raw = binascii.a2b_base64(data.translate(_TO_STD) + b"=" * (-len(data) % 4))
    if binascii.b2a_base64(raw, newline=False).translate(_TO_URL).rstrip(b"=") != data:
        raise ValueError("not canonical base64url")
    return raw


# the header our `issue_access_token` writes (PyJWT's compact JSON of alg and typ)
_OUR_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
_decode_claims = msgspec.json.Decoder(dict[str, Any]).decode


@functools.lru_cache(maxsize=4)
def _mac_key(secret: str) -> bytes:
    return secret.encode()


def _plain_claims(secret: str, token: str) -> dict[str, Any] | None:
    """The claims of a token as we issue them (our header, a good signature, int `iat` and
    `exp`, str `sub`/`jti`, our issuer, no `nbf`/`aud`) that PyJWT would accept as they are;
    None for any other token, which then goes through PyJWT (and its precise refusals).
    PyJWT checks each base64 character in Python: this is the hub's per-connect hot path."""
    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if header != _OUR_HEADER or not signature or "." in signature:
        return None
    try:
        mac = _segment(signature)
        claims = _decode_claims(_segment(payload))
    except (ValueError, binascii.Error, msgspec.DecodeError):
        return None
    expected = hmac.digest(_mac_key(secret), f"{header}.{payload}".encode(), "sha256")
    if not hmac.compare_digest(mac, expected):
        return None
    now = time.time()
    iat, exp = claims.get("iat"), claims.get("exp")
    if type(iat) is not int or type(exp) is not int or iat > now or exp <= now \
            or claims.get("iss") != ISSUER or "nbf" in claims or "aud" in claims \
            or type(claims.get("sub")) is not str or type(claims.get("jti")) is not str:
        return None
    return claims


def verify_access_token(secret: str, token: str) -> Principal:
    """Decode and check a token; raises Unauthorized with a stable code on any failure.

    Only HS256 is accepted (so `none` and RS/HS confusion are refused), `exp`, `iat`, `sub`
    and `jti` must be present, and the issuer must be ours.
    """
    if not token or not isinstance(token, str):
        raise Unauthorized("missing access token", code="auth_required")
    claims = _plain_claims(secret, token)
    if claims is None:
        claims = _checked_claims(secret, token)
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized("invalid access token", code="invalid_token")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    fam = claims.get("fam")
    iat = int(claims["iat"])
    ims = claims.get("ims")
    return Principal(user_id=user_id, role=role, jti=claims["jti"], exp=int(claims["exp"]),
                     family=fam if isinstance(fam, str) else None, iat=iat,
                     issued_ms=ims if isinstance(ims, int) else iat * 1000)


def _checked_claims(secret: str, token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("malformed access token", code="invalid_token") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("unsupported token algorithm", code="invalid_token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    return claims


CHALLENGE_AUDIENCE = "readalong-2fa"


def issue_challenge(secret: str, user_id: int, ttl: int) -> str:
    """The short-lived token that proves the password step of a two-step sign-in."""
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "aud": CHALLENGE_AUDIENCE, "iss": ISSUER,
                       "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex},
                      secret, algorithm=ALGORITHM)


def verify_challenge(secret: str, token: str) -> int:
    """The user id of a valid challenge; 401 `invalid_challenge` otherwise (an access token
    is not a challenge, nor the reverse: the audiences differ)."""
    try:
        claims = jwt.decode(token or "", secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            audience=CHALLENGE_AUDIENCE,
                            options={"require": ["exp", "sub", "aud"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise Unauthorized("the sign-in challenge is invalid or expired; sign in again",
                           code="invalid_challenge") from exc
