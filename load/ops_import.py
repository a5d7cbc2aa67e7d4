"""`python -m load.ops_import [--lines N]`: Open Library import rate (books/s) on embedded
engines in a temporary folder, for N generated dump lines (authors, editions, works)."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from domain.catalog.isbn import make_isbn13
from domain.db import Database
from domain.migrate import migrate
from domain.ops.ol_import import import_dump, start_run
from server.engines import EmbeddedEngines


def write_dump(path: Path, lines: int) -> int:
    """About 1 author and 1 work per 8 editions; returns the number of editions."""
    editions = 0
    with path.open("w") as fh:
        for i in range(lines):
            if i % 10 == 0:
                fh.write(f"/type/author\t/authors/OL{i}A\t1\t2024-01-01\t"
                         + json.dumps({"name": f"Bench Author {i}"}) + "\n")
            elif i % 10 == 1:
                fh.write(f"/type/work\t/works/OL{i}W\t1\t2024-01-01\t"
                         + json.dumps({"description": f"Work {i}"}) + "\n")
            else:
                editions += 1
                fh.write(f"/type/edition\t/books/OL{i}M\t1\t2024-01-01\t" + json.dumps({
                    "title": f"Bench Book {i}", "isbn_13": [make_isbn13(f"979{i:09d}")],
                    "number_of_pages": 100 + i % 300, "publish_date": str(1900 + i % 120),
                    "authors": [{"key": f"/authors/OL{i - i % 10}A"}],
                    "works": [{"key": f"/works/OL{i - i % 10 + 1}W"}]}) + "\n")
    return editions


async def bench(lines: int, folder: Path) -> None:
    engines = EmbeddedEngines(folder / "var", persist_redis=False)
    db_url, _ = engines.start()
    try:
        await migrate(db_url)
        dump = folder / "dump.txt"
        editions = write_dump(dump, lines)
        db = Database(db_url, pool_size=2)
        await db.connect()
        try:
            for label in ("first run", "re-run"):
                run_id = await start_run(db, str(dump))
                start = time.perf_counter()
                run = await import_dump(db, dump, run_id)
                took = time.perf_counter() - start
                print(f"{label}: {lines} lines, {run.books} books ({editions} editions) in "
                      f"{took:.1f}s = {run.books / took:.0f} books/s, {lines / took:.0f} lines/s")
        finally:
            await db.close()
    finally:
        engines.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench(args.lines, Path(tmp)))


if __name__ == "__main__":
    main()
