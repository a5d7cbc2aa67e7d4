"""The Open Library importer: a dump written here, imported by the worker, then re-imported."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from domain.jobqueue import enqueue
from domain.ops.metrics import ops_metrics
from domain.ops.ol_import import start_run
from tests.conftest import Engines
from tests.support import ROOT
from tests.test_sessions_helpers import db_exec
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


def line(kind: str, key: str, data: dict[str, Any] | str) -> str:
    body = data if isinstance(data, str) else json.dumps(data)
    return f"/type/{kind}\t{key}\t3\t2024-01-01T00:00:00\t{body}\n"


def sample_dump(path: Path, unique: str, existing_isbn: str) -> None:
    a1, a2 = f"/authors/OL{unique}1A", f"/authors/OL{unique}2A"
    path.write_text("".join([
        line("author", a1, {"name": f"Ada Import {unique}"}),
        line("author", a2, {"name": f"Ben Import {unique}"}),
        line("edition", f"/books/OL{unique}1M", {
            "title": f"Dumped Tales {unique}", "isbn_13": ["9780306406157"],
            "number_of_pages": 200, "publishers": ["Dump House"], "publish_date": "March 1999",
            "authors": [{"key": a1}, {"key": a2}], "works": [{"key": f"/works/OL{unique}W"}],
            "languages": [{"key": "/languages/fre"}],
            "table_of_contents": [{"title": "Opening", "pagenum": "1"},
                                  {"title": "Middle", "pagenum": "101"}]}),
        line("edition", f"/books/OL{unique}2M", {"title": "Merged onto an ISBN",
                                                  "isbn_13": [existing_isbn]}),
        "not a dump line at all\n",
        line("edition", f"/books/OL{unique}3M", "{broken json"),
        line("edition", f"/books/OL{unique}4M", {"subtitle": "no title here"}),
        line("redirect", f"/books/OL{unique}9M", {"location": "/books/OL1M"}),
        line("work", f"/works/OL{unique}W", {"description": {"type": "/type/text",
                                                            "value": "A work's blurb."}}),
    ]))


async def test_import_is_batched_idempotent_and_reports_malformed_lines(
        engines: Engines, tmp_path: Path, unique: str) -> None:
    """Imported editions are findable with authors, ISBN, contents and blurb; an ISBN already in
    the catalog is merged, not duplicated; bad lines are listed on the run; a re-run changes
    nothing but versions."""
    existing_isbn = "9780140328721"
    await db_exec(engines.database_url, "DELETE FROM books WHERE isbn13 IN ($1, $2)",
                  existing_isbn, "9780306406157")
    [mine] = await db_exec(engines.database_url, "INSERT INTO books (title, title_key, isbn13)"
                           " VALUES ('Mine', 'mine', $1) RETURNING id", existing_isbn)
    dump = tmp_path / "ol.txt"
    sample_dump(dump, unique, existing_isbn)
    settings = worker_settings(engines)
    malformed = ops_metrics().import_malformed.labels("openlibrary")
    before = malformed._value.get()
    runs = []
    for _ in range(2):
        async with db_and_redis(engines) as (db, redis):
            run_id = await start_run(db, str(dump))
            assert await enqueue(redis, "import_openlibrary", str(dump), run_id)
        await run_worker(settings)
        [run] = await db_exec(engines.database_url, "SELECT * FROM import_runs WHERE id = $1",
                              run_id)
        runs.append(run)
    for run in runs:
        assert run["status"] == "done" and run["lines_read"] == 9
        assert run["books"] == 2 and run["malformed"] == 3
        reasons = [p["reason"] for p in json.loads(run["problems"])]
        assert any("5 tab-separated" in r for r in reasons)
        assert any("bad JSON" in r for r in reasons) and any("no title" in r for r in reasons)
    assert malformed._value.get() - before == 6  # progress as metrics: 3 bad lines per run
    rows = await db_exec(engines.database_url,
                         "SELECT id, title, isbn13, language, published_year, description,"
                         " source, version, search::text AS search FROM books"
                         " WHERE ol_key LIKE $1 ORDER BY ol_key", f"/books/OL{unique}%")
    assert len(rows) == 2  # the re-run updated, never duplicated
    tales, merged = rows
    assert merged["id"] == mine["id"] and merged["title"] == "Merged onto an ISBN"
    assert tales["isbn13"] == "9780306406157" and tales["language"] == "fr"
    assert tales["published_year"] == 1999 and tales["description"] == "A work's blurb."
    assert tales["source"] == "openlibrary" and tales["version"] == 2
    assert "ada" in tales["search"]  # the search document includes the authors
    authors = await db_exec(engines.database_url,
                            "SELECT a.name FROM book_authors ba JOIN authors a ON"
                            " a.id = ba.author_id WHERE ba.book_id = $1 ORDER BY ba.position",
                            tales["id"])
    assert [a["name"] for a in authors] == [f"Ada Import {unique}", f"Ben Import {unique}"]
    toc = await db_exec(engines.database_url, "SELECT title, start FROM book_chapters"
                        " WHERE book_id = $1 ORDER BY position", tales["id"])
    assert [(c["title"], c["start"]) for c in toc] == [("Opening", 0.0), ("Middle", 0.5)]


async def test_the_command_queues_an_import_the_worker_finishes(
        engines: Engines, tmp_path: Path, unique: str) -> None:
    """`readalong import-openlibrary FILE` queues a run that the worker then completes."""
    dump = tmp_path / "one.txt"
    dump.write_text(line("author", f"/authors/OL{unique}7A", {"name": f"Cli Author {unique}"}))
    env = engines.env(READALONG_DATA_DIR=str(engines.data_dir))
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "import-openlibrary", str(dump)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run_id = int(out.stdout.split()[2])
    await run_worker(worker_settings(engines))
    [run] = await db_exec(engines.database_url, "SELECT status, authors FROM import_runs"
                          " WHERE id = $1", run_id)
    assert run["status"] == "done" and run["authors"] == 1
