"""KOReader sync (kosync v1): sync identities and the progress KOReader's server keeps.

A sync identity is KOReader's `username` + key pair, where the key is the MD5 hex of the
password that the client computes itself. It is a credential of its own, separate from the
reader's account: the key is stored as an argon2id hash (`key_hash`), never the account
password. An identity may exist unlinked (created by a device through `/users/create`); its
progress is kept and applied when the reader links it (domain/interop/kosync_links.py).

Verifying argon2id on every PUT would cost tens of milliseconds per page turn, so a verified
key is remembered in this process for a few minutes as a SHA-256 digest, keyed by the
identity's id *and* its stored hash: a changed or deleted key is never accepted from the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time
import weakref
from collections import OrderedDict
from typing import Any

import msgspec

from domain.accounts.passwords import Passwords

USERNAME_MAX = 100
DOCUMENT_MAX = 255
TEXT_MAX = 4096  # progress (an xpointer), device and device_id


class KosyncError(Exception):
    """A kosync protocol error: HTTP status, KOReader's numeric code and its exact message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unauthorized() -> KosyncError:
    return KosyncError(401, 2001, "Unauthorized")


def username_taken() -> KosyncError:
    return KosyncError(402, 2002, "Username is already registered.")


def invalid_request() -> KosyncError:
    return KosyncError(403, 2003, "Invalid request")


def invalid_document() -> KosyncError:
    return KosyncError(403, 2004, "Field 'document' not provided.")


def registration_disabled() -> KosyncError:
    return KosyncError(402, 2005, "User registration is disabled.")


class Identity(msgspec.Struct, frozen=True):
    id: int
    username: str
    user_id: int | None


class Progress(msgspec.Struct, frozen=True):
    document: str
    progress: str
    percentage: float
    device: str
    device_id: str | None
    timestamp: int


def valid_key_field(value: Any, limit: int = USERNAME_MAX) -> bool:
    """KOReader's `isValidKeyField`: a non-empty string without ':' (also our length cap)."""
    return isinstance(value, str) and 0 < len(value) <= limit and ":" not in value


def valid_field(value: Any) -> bool:
    """KOReader's `isValidField`: a non-empty string."""
    return isinstance(value, str) and 0 < len(value) <= TEXT_MAX


def to_number(value: Any) -> float | None:
    """Lua's `tonumber` on a JSON value: numbers and numeric strings; NaN/inf are refused."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


class KeyCache:
    """Recently verified keys, per (identity id, stored hash), as SHA-256 digests; `lock()`
    makes concurrent first requests of one identity wait for one argon2id verification."""

    def __init__(self, ttl: float = 300.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: OrderedDict[tuple[int, str], tuple[bytes, float]] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def lock(self, identity_id: int) -> asyncio.Lock:
        found = self._locks.get(identity_id)
        if found is None:
            found = self._locks[identity_id] = asyncio.Lock()
        return found

    def ok(self, identity_id: int, key_hash: str, key: str) -> bool:
        entry = self._seen.get((identity_id, key_hash))
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], hashlib.sha256(key.encode()).digest())

    def remember(self, identity_id: int, key_hash: str, key: str) -> None:
        self._seen[(identity_id, key_hash)] = (hashlib.sha256(key.encode()).digest(),
                                                time.monotonic() + self.ttl)
        self._seen.move_to_end((identity_id, key_hash))
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)


_CACHE = KeyCache()


async def create_identity(conn: Any, passwords: Passwords, username: Any, key: Any, *,
                          user_id: int | None = None) -> Identity:
    """A new identity (`/users/create`, or from the reader's settings with `user_id`)."""
    if not valid_key_field(username) or not valid_field(key):
        raise invalid_request()
    key_hash = await passwords.hash(key)
    row = await conn.fetchrow(
        "INSERT INTO kosync_identities (username, key_hash, user_id, linked_at)"
        " VALUES ($1, $2, $3, CASE WHEN $3::bigint IS NULL THEN NULL ELSE now() END)"
        " ON CONFLICT (username) DO NOTHING RETURNING id", username, key_hash, user_id)
    if row is None:
        raise username_taken()
    return Identity(id=int(row["id"]), username=username, user_id=user_id)


async def authenticate(conn: Any, passwords: Passwords, username: str | None,
                       key: str | None, *, cache: KeyCache = _CACHE) -> Identity:
    """The identity these `x-auth-user`/`x-auth-key` headers prove; 2001 otherwise (an unknown
    username costs the same argon2id verification as a wrong key)."""
    if not username or not key or len(username) > USERNAME_MAX or len(key) > TEXT_MAX:
        raise unauthorized()
    row = await conn.fetchrow("SELECT id, key_hash, user_id FROM kosync_identities"
                              " WHERE username = $1", username)
    if row is None:
        await passwords.verify(None, key)
        raise unauthorized()
    identity = Identity(id=int(row["id"]), username=username, user_id=row["user_id"])
    if cache.ok(identity.id, row["key_hash"], key):
        return identity
    async with cache.lock(identity.id):  # one verification for a burst of first requests
        if cache.ok(identity.id, row["key_hash"], key):
            return identity
        if not await passwords.verify(row["key_hash"], key):
            raise unauthorized()
        cache.remember(identity.id, row["key_hash"], key)
    return identity


def parse_update(body: Any) -> Progress:
    """A PUT /syncs/progress body, checked as KOReader's server does: 2004 for the document
    first, then 2003 unless percentage (a number), progress and device are all given."""
    if not isinstance(body, dict):
        raise invalid_request()
    document = body.get("document")
    if not valid_key_field(document, DOCUMENT_MAX):
        raise invalid_document()
    percentage = to_number(body.get("percentage"))
    progress, device = body.get("progress"), body.get("device")
    device_id = body.get("device_id")
    if percentage is None or not isinstance(progress, (str, int, float)) \
            or isinstance(progress, bool) or not valid_field(device):
        raise invalid_request()
    progress_text = progress if isinstance(progress, str) else str(progress)
    if len(progress_text) > TEXT_MAX:
        raise invalid_request()
    if device_id is not None and not (isinstance(device_id, str) and len(device_id) <= TEXT_MAX):
        raise invalid_request()
    return Progress(document=str(document), progress=progress_text, percentage=percentage,
                    device=str(device), device_id=device_id, timestamp=int(time.time()))


async def store_progress(conn: Any, identity: Identity, update: Progress) -> None:
    """Last write wins, as KOReader's server does (not "furthest")."""
    await conn.execute(
        "INSERT INTO kosync_progress (identity_id, document, progress, percentage, device,"
        " device_id, timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (identity_id, document) DO UPDATE SET progress = EXCLUDED.progress,"
        " percentage = EXCLUDED.percentage, device = EXCLUDED.device,"
        " device_id = EXCLUDED.device_id, timestamp = EXCLUDED.timestamp",
        identity.id, update.document, update.progress, update.percentage, update.device,
        update.device_id, update.timestamp)


async def get_progress(conn: Any, identity: Identity, document: str) -> Progress | None:
    if not valid_key_field(document, DOCUMENT_MAX):
        raise invalid_document()
    row = await conn.fetchrow("SELECT document, progress, percentage, device, device_id,"
                              " timestamp FROM kosync_progress WHERE identity_id = $1"
                              " AND document = $2", identity.id, document)
    if row is None:
        return None
    return Progress(document=row["document"], progress=row["progress"],
                    percentage=float(row["percentage"]), device=row["device"],
                    device_id=row["device_id"], timestamp=int(row["timestamp"]))


def progress_body(found: Progress | None) -> dict[str, Any]:
    """GET's body: every field KOReader reads, or `{}` for an unknown document."""
    if found is None:
        return {}
    body: dict[str, Any] = {"document": found.document, "percentage": found.percentage,
                            "progress": found.progress, "device": found.device,
                            "timestamp": found.timestamp}
    if found.device_id is not None:
        body["device_id"] = found.device_id
    return body
