"""A Database look-alike bound to one checked-out connection, so a use-case chain runs on it."""

from __future__ import annotations

from typing import Any


class OnConnection:
    """Has `.pool` like `domain.db.Database`, but it is one asyncpg connection: use-cases that
    only call `db.pool.fetch*/execute` run on it without further pool checkouts (no nesting of
    `acquire()` or transactions through it)."""

    def __init__(self, conn: Any) -> None:
        self.pool = conn
