"""The CSV catalog importer: a spreadsheet written here, imported by the worker twice (the
second run updates, never duplicates), merged onto books already in the catalog by ISBN."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

from domain.catalog.isbn import isbn13_to_10, make_isbn13
from domain.ops.metrics import ops_metrics
from tests.conftest import Engines
from tests.support import ROOT
from tests.test_sessions_helpers import db_exec
from tests.worker_helpers import run_worker, worker_settings


def isbns(unique: str, n: int) -> list[str]:
    base = int.from_bytes(unique.encode(), "big") % 10**7
    return [make_isbn13(f"97818{(base * 7 + i) % 10**7:07d}") for i in range(n)]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ISBN", "Title", "Authors", "Year", "Pages", "Language"])
        writer.writerows(rows)


async def _run_cli(engines: Engines, path: Path) -> int:
    env = engines.env(READALONG_DATA_DIR=str(engines.data_dir))
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "import-csv", str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[2])


async def test_csv_import_merges_on_isbn_is_idempotent_and_reports_bad_rows(
        engines: Engines, tmp_path: Path, unique: str) -> None:
    """Rows become searchable books with their authors in order; a book already in the
    catalog (known by its ISBN-10 only) is updated in place; bad rows are listed on the run;
    re-running the file adds no book."""
    new, old = isbns(unique, 2)
    old10 = isbn13_to_10(old)
    assert old10 is not None
    [mine] = await db_exec(engines.database_url, "INSERT INTO books (title, title_key, isbn10)"
                           " VALUES ('Mine', 'mine', $1) RETURNING id", old10)
    sheet = tmp_path / "books.csv"
    write_csv(sheet, [
        [new, f"Sheet Tales {unique}", f"Cleo Csv {unique}; Dan Csv {unique}", "2001", "320",
         "fr"],
        [old10[:3] + "-" + old10[3:], "Merged by ISBN", "", "", "", ""],
        ["", "No ISBN", "", "", "", ""],
        ["9780306406158", "Bad check digit", "", "", "", ""],
        [new, "Same ISBN again", "", "", "", ""],
        [make_isbn13("979100000001"), "", "", "", "", ""],
        [make_isbn13("979100000002"), "Bad year", "", "year two", "", ""],
    ])
    settings = worker_settings(engines)
    malformed = ops_metrics().import_malformed.labels("csv")
    before = malformed._value.get()
    runs = []
    for _ in range(2):
        run_id = await _run_cli(engines, sheet)
        await run_worker(settings)
        [run] = await db_exec(engines.database_url, "SELECT * FROM import_runs WHERE id = $1",
                              run_id)
        runs.append(run)
    for run in runs:
        assert run["kind"] == "csv" and run["status"] == "done", run
        assert run["books"] == 2 and run["malformed"] == 5 and run["lines_read"] == 8
        reasons = " | ".join(p["reason"] for p in json.loads(run["problems"]))
        for why in ("no ISBN", "check digit", "already in this file", "no title", "year"):
            assert why in reasons, reasons
    assert malformed._value.get() - before == 10  # progress as metrics: 5 bad rows per run
    rows = await db_exec(engines.database_url,
                         "SELECT id, title, isbn13, isbn10, language, published_year, page_count,"
                         " source, version, search::text AS search FROM books"
                         " WHERE isbn13 = ANY($1::text[]) ORDER BY isbn13", [new, old])
    assert len(rows) == 2  # two runs, two books: updated, never duplicated
    by_isbn = {r["isbn13"]: r for r in rows}
    tales, merged = by_isbn[new], by_isbn[old]
    assert merged["id"] == mine["id"] and merged["title"] == "Merged by ISBN"
    assert merged["isbn10"] == old10 and merged["source"] is None  # made here: provenance kept
    assert tales["source"] == "csv" and tales["version"] == 2
    assert (tales["language"], tales["published_year"], tales["page_count"]) == ("fr", 2001, 320)
    assert "cleo" in tales["search"]  # the search document includes the authors
    authors = await db_exec(engines.database_url,
                            "SELECT a.name FROM book_authors ba JOIN authors a ON"
                            " a.id = ba.author_id WHERE ba.book_id = $1 ORDER BY ba.position",
                            tales["id"])
    assert [a["name"] for a in authors] == [f"Cleo Csv {unique}", f"Dan Csv {unique}"]


async def test_a_csv_without_the_needed_columns_is_reported(engines: Engines, tmp_path: Path
                                                            ) -> None:
    """A file whose header lacks isbn/title finishes at once with that one problem."""
    sheet = tmp_path / "wrong.csv"
    sheet.write_text("name,writer\nA,B\n")
    run_id = await _run_cli(engines, sheet)
    await run_worker(worker_settings(engines))
    [run] = await db_exec(engines.database_url, "SELECT status, books, problems FROM"
                          " import_runs WHERE id = $1", run_id)
    assert run["status"] == "done" and run["books"] == 0
    assert "isbn and title" in json.loads(run["problems"])[0]["reason"]
