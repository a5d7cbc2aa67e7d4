"""The schema is written in two places — the SQL migrations and the SQL the code runs — and this
test keeps them equal: every complete SQL statement in server/ realtime/ domain/ jobs/ is
prepared against the database the migrations build, so a query naming a table, column or type
the migrations do not create fails here, not in front of a reader."""

from __future__ import annotations

import ast
import re

import asyncpg
import pytest

from tests.conftest import Engines
from tests.support import ROOT

PACKAGES = ("server", "realtime", "domain", "jobs")
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# PostgreSQL's answers that mean "the schema does not have what this query names"
# fragments that select from a CTE their caller puts in front (a name no migration creates)
# (and the catalog importers' per-batch staging tables, created ON COMMIT DROP before use)
CTE_FRAGMENTS = {("domain/catalog/search.py", 'relation "page" does not exist'),
                 ("domain/ops/ol_import.py", 'relation "ol_stage" does not exist'),
                 ("domain/ops/csv_import.py", 'relation "csv_stage" does not exist')}
SCHEMA_ERRORS = (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError,
                 asyncpg.UndefinedFunctionError, asyncpg.UndefinedObjectError)


def _literals() -> list[tuple[str, int, str]]:
    """(file, line, text) of every string literal in the code that reads as a SQL statement
    (implicit concatenation is joined by the parser; f-strings are not literals and are skipped)."""
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and STATEMENT.match(node.value)
                        and ("$" in node.value or " FROM " in node.value.upper())):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    return found


def test_the_code_holds_sql_literals() -> None:
    """The scan finds the project's queries (an empty scan would make the next test vacuous)."""
    assert len(_literals()) >= 100


@pytest.mark.asyncio
async def test_every_sql_statement_prepares_against_the_migrated_schema(engines: Engines) -> None:
    """Each complete statement prepares; none names a table, column, function or type that the
    migrations do not create. Fragments (a WHERE clause to be appended) fail with a syntax
    error and are counted apart; most literals must be complete statements."""
    conn = await asyncpg.connect(engines.database_url)
    missing: list[str] = []
    prepared = fragments = 0
    try:
        for where, line, sql in _literals():
            try:
                async with conn.transaction():
                    await conn.prepare(sql)
                prepared += 1
            except SCHEMA_ERRORS as exc:
                if (where, str(exc)) in CTE_FRAGMENTS:
                    fragments += 1
                    continue
                missing.append(f"{where}:{line}: {type(exc).__name__}: {exc}")
            except asyncpg.PostgresError:
                fragments += 1
    finally:
        await conn.close()
    assert not missing, "queries naming what no migration creates:\n" + "\n".join(missing)
    assert prepared >= 100 and prepared > fragments, (prepared, fragments)
