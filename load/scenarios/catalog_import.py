"""catalog_import: bulk catalog import rates on the bench engines, in-process (the worker
job's own code path: domain/ops/ol_import.py and domain/ops/csv_import.py).

Open Library: N generated dump lines (load/ops_import.py's generator: one author and one work
per ten lines, the rest editions with an ISBN, pages, year, author and work), imported, then
re-imported (every row updated, none added). CSV: M rows of ISBN/title/authors/year/pages
(a third of them ISBNs of books the dump import made, so they merge), then the same again.
Figures: books/s and lines (rows)/s per run.
"""

from __future__ import annotations

import asyncio
import csv
import time
from argparse import Namespace
from typing import Any

from load.stack import Stack

TITLE = "catalog_import: Open Library dump and CSV import rates (books/s), first run and re-run"
DEFAULT_REPEATS = 1
ALL_SIZES = {"cat_lines": 100_000, "cat_csv_rows": 30_000}


def add_arguments(g: Any) -> None:
    g.add_argument("--cat-lines", type=int, default=100_000, help="generated dump lines")
    g.add_argument("--cat-csv-rows", type=int, default=30_000, help="generated CSV rows")


def quick(args: Namespace) -> None:
    args.cat_lines = min(args.cat_lines, 5000)
    args.cat_csv_rows = min(args.cat_csv_rows, 2000)


def params(args: Namespace) -> dict[str, Any]:
    return {"dump_lines": args.cat_lines, "csv_rows": args.cat_csv_rows}


def _write_csv(path: Any, rows: int) -> None:
    from domain.catalog.isbn import make_isbn13

    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["isbn", "title", "authors", "year", "pages"])
        for i in range(rows):
            # every third row: an ISBN the dump generator used (a merge), else a new one
            isbn = make_isbn13(f"979{i * 3:09d}") if i % 3 == 0 else make_isbn13(f"9781{i:08d}")
            w.writerow([isbn, f"Sheet Book {i}", f"Sheet Author {i % 500}; Co Author {i % 7}",
                        1950 + i % 70, 80 + i % 400])


async def _measure(stack: Stack, args: Namespace) -> dict[str, Any]:
    from domain.db import Database
    from domain.ops.csv_import import import_csv
    from domain.ops.ol_import import import_dump, start_run
    from load.ops_import import write_dump

    dump = stack.tmp / "ol-dump.txt"
    sheet = stack.tmp / "catalog.csv"
    editions = write_dump(dump, args.cat_lines)
    _write_csv(sheet, args.cat_csv_rows)
    db = Database(stack.database_url, pool_size=2)
    await db.connect()
    fig: dict[str, Any] = {"dump_lines": args.cat_lines, "dump_editions": editions,
                           "csv_rows": args.cat_csv_rows}
    try:
        for label in ("ol_first", "ol_rerun"):
            run_id = await start_run(db, str(dump))
            t0 = time.perf_counter()
            run = await import_dump(db, dump, run_id)
            took = time.perf_counter() - t0
            fig[f"{label}_books_per_s"] = round(run.books / took, 1)
            fig[f"{label}_lines_per_s"] = round(args.cat_lines / took, 1)
            fig[f"{label}_s"] = round(took, 2)
        for label in ("csv_first", "csv_rerun"):
            run_id = await start_run(db, str(sheet), "csv")
            t0 = time.perf_counter()
            run = await import_csv(db, sheet, run_id)
            took = time.perf_counter() - t0
            fig[f"{label}_books_per_s"] = round(run.books / took, 1)
            fig[f"{label}_s"] = round(took, 2)
        fig["books_total"] = int(await db.pool.fetchval("SELECT count(*) FROM books"))
    finally:
        await db.close()
    return fig


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    stack.start_engines()
    runs = []
    for r in range(repeats):
        fig = asyncio.run(_measure(stack, args))
        print(f"   catalog import run {r + 1}: dump {fig['ol_first_books_per_s']} books/s "
              f"(re-run {fig['ol_rerun_books_per_s']}), CSV {fig['csv_first_books_per_s']} "
              f"books/s (re-run {fig['csv_rerun_books_per_s']})", flush=True)
        runs.append(fig)
    return [{
        "title": f"catalog_import {args.cat_lines} dump lines, {args.cat_csv_rows} CSV rows",
        "runs": runs,
        "headline": [("ol_first_books_per_s", "Open Library dump: books/s, first run"),
                     ("ol_first_lines_per_s", "Open Library dump: lines/s, first run"),
                     ("ol_rerun_books_per_s", "Open Library dump: books/s, re-run (updates)"),
                     ("csv_first_books_per_s", "CSV: books/s, first run (1/3 merges)"),
                     ("csv_rerun_books_per_s", "CSV: books/s, re-run (updates)"),
                     ("books_total", "books in the catalog after both (no duplicates)")],
        "notes": ["in-process on the bench engines, batches of 2000 (one transaction and one "
                  "COPY each), search documents rebuilt per batch"],
    }]
