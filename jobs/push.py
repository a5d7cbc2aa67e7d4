"""Web Push delivery: encrypt (RFC 8291), sign (VAPID), POST to the browser's push service."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from domain.notifications.webpush import encrypt_payload, vapid_authorization
from jobs.retry import TransientError

GONE = (404, 410)


class PushGone(Exception):
    """The push service says this subscription no longer exists (404/410): delete it."""


async def send_push(client: httpx.AsyncClient, key: ec.EllipticCurvePrivateKey, subject: str,
                    sub: Any, payload: bytes, ttl: int = 24 * 3600) -> None:
    """POST one encrypted message; raises PushGone, or TransientError-worthy httpx errors."""
    body = encrypt_payload(payload, sub["p256dh"], sub["auth"])
    r = await client.post(sub["endpoint"], content=body, headers={
        "Authorization": vapid_authorization(key, sub["endpoint"], subject),
        "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
        "TTL": str(ttl), "Urgency": "normal"})
    if r.status_code in GONE:
        raise PushGone(sub["endpoint"])
    if r.status_code == 429 or r.status_code >= 500:
        raise TransientError(f"push service answered {r.status_code}")
    if r.status_code >= 400:
        raise RuntimeError(f"push service refused the message: {r.status_code} {r.text[:200]}")
