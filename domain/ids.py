"""Identifier types shared by every body, query and path: a database id is a positive BIGINT."""

from __future__ import annotations

from typing import Annotated

import msgspec

#: PostgreSQL BIGINT's upper bound; a larger id can name nothing we store.
MAX_ID = 2**63 - 1

#: A row id in a body or query: 1 .. 2**63-1, else 422/`invalid` naming the field.
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


def in_range(value: int) -> bool:
    """True when `value` could be a stored row id (a path id outside it is simply not found)."""
    return 1 <= value <= MAX_ID
