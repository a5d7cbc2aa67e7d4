"""The list of piccolo tables, one import per bounded context (used by migrations and binding)."""

from __future__ import annotations

from piccolo.table import Table

TABLES: list[type[Table]] = []
