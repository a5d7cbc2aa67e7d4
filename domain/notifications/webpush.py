"""Web Push crypto: the VAPID key pair (RFC 8292 ES256 JWT) and RFC 8291 aes128gcm encryption."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domain.errors import Invalid
from domain.settings import Settings

VAPID_FILE = "vapid_private.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _from_text(text: str) -> ec.EllipticCurvePrivateKey:
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("VAPID key must be an EC P-256 key")
        return key
    return ec.derive_private_key(int.from_bytes(b64url_decode(text.strip()), "big"),
                                 ec.SECP256R1())


def load_vapid_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """READALONG_VAPID_PRIVATE_KEY (PEM text, a PEM file path or the base64url raw scalar), or
    else a key generated once and kept in `<data_dir>/vapid_private.pem` (first writer wins)."""
    configured = settings.vapid_private_key
    if configured:
        path = Path(configured)
        if not configured.lstrip().startswith("-----") and path.is_file():
            return _from_text(path.read_text())
        return _from_text(configured)
    path = settings.data_path / VAPID_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    return _from_text(path.read_text())


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The uncompressed public point, base64url: the browser's `applicationServerKey`."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def vapid_authorization(key: ec.EllipticCurvePrivateKey, endpoint: str, subject: str,
                        ttl: int = 12 * 3600) -> str:
    """The `Authorization: vapid t=<jwt>, k=<public key>` header value for one push service."""
    parts = urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(time.time()) + ttl,
              "sub": subject}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "JWT"})
    return f"vapid t={token}, k={public_key_b64(key)}"


def check_subscription_keys(p256dh: str, auth: str) -> None:
    """Refuse keys that are not a P-256 point and a 16-byte secret (base64url)."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        secret = b64url_decode(auth)
    except (ValueError, TypeError) as exc:
        raise Invalid("keys.p256dh must be a base64url P-256 public key", code="invalid_push_keys",
                      field="keys.p256dh") from exc
    if len(secret) != 16:
        raise Invalid("keys.auth must be 16 bytes, base64url", code="invalid_push_keys",
                      field="keys.auth")


def encrypt_payload(payload: bytes, p256dh: str, auth: str) -> bytes:
    """RFC 8291: ECDH with a fresh key pair, HKDF with the auth secret, aes128gcm (RFC 8188)."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(payload, salt=os.urandom(16), private_key=sender,
                                   dh=b64url_decode(p256dh), auth_secret=b64url_decode(auth),
                                   version="aes128gcm")
    return body
