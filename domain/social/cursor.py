"""Opaque keyset cursors for lists ordered by (created_at DESC, id DESC)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import Invalid

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIMIT = 100


def encode(created_at: datetime, row_id: int) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}.{row_id}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> tuple[datetime, int] | None:
    """The (created_at, id) position after which the next page starts; None for the first."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, _, row_id = raw.partition(".")
        return _EPOCH + timedelta(microseconds=int(micros)), int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise Invalid("cursor is not one this server handed out", code="invalid_cursor",
                      field="cursor") from exc


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit",
                      field="limit")
    return limit


def after_clause(args: list[Any], after: str | None, columns: str, op: str = "<") -> str | None:
    """The keyset condition for the page after `after` (`(columns) op ($n, $n+1)`, its two
    values appended to `args`), or None for the first page."""
    position = decode(after)
    if position is None:
        return None
    args += list(position)
    return f"({columns}) {op} (${len(args) - 1}, ${len(args)})"


def next_page(rows: Sequence[Any], limit: int, at: str = "created_at",
              key: str = "id") -> str | None:
    """The cursor after a page read with LIMIT `limit` + 1 (its last shown row's `at`, `key`),
    or None when that extra row is absent: no page follows."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode(last[at], last[key])
