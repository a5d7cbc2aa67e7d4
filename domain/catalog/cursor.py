"""Opaque keyset cursors for catalog listings: base64url JSON bound to the query that made them."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec

from domain.errors import DomainError


class _Cursor(msgspec.Struct, array_like=True):
    mode: str          # "rank" (relevance order) or "title" (title order)
    key: str           # the last row's rank (exact decimal text) or title
    id: int            # the last row's id (the tie-breaker)
    query: str         # fingerprint of the query and filters


def bad_cursor(detail: str) -> DomainError:
    return DomainError(detail, code="invalid_cursor", field="cursor")


def fingerprint(*parts: Any) -> str:
    return hashlib.blake2s(msgspec.json.encode(parts), digest_size=6).hexdigest()


def encode_cursor(mode: str, key: str, last_id: int, query: str) -> str:
    raw = msgspec.json.encode(_Cursor(mode, key, last_id, query))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, mode: str, query: str) -> tuple[str, int]:
    """(key, id) of a cursor made by the same query; a 400 `invalid_cursor` problem otherwise."""
    if len(token) > 1024:
        raise bad_cursor("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise bad_cursor("cursor is not one this server issued") from exc
    if cursor.mode != mode or cursor.query != query:
        raise bad_cursor("cursor belongs to a different search: start again without it")
    return cursor.key, cursor.id
