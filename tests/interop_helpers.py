"""Test helpers for interop: Goodreads / StoryGraph export files written as the sites write
them (BOM, CRLF, `="…"` ISBNs, quoted newlines), a big generated Goodreads file, and REST
shortcuts for uploads and waiting on imports."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from domain.interop.formats import GOODREADS, STORYGRAPH
from tests.accounts_helpers import UserSession
from tests.support import eventually


def _csv(header: list[str], rows: list[dict[str, str]], *, bom: bool = True) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(col, "") for col in header])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def goodreads_csv(rows: list[dict[str, str]], **kw: Any) -> bytes:
    """A Goodreads export: every row gets `=""` ISBNs unless given, My Rating 0, Read Count 1."""
    full = [{"ISBN": '=""', "ISBN13": '=""', "My Rating": "0", "Read Count": "1",
             "Owned Copies": "0", "Average Rating": "3.9", **r} for r in rows]
    return _csv(GOODREADS, full, **kw)


def storygraph_csv(rows: list[dict[str, str]]) -> bytes:
    return _csv(STORYGRAPH, rows)


def isbn_cell(isbn: str) -> str:
    return f'="{isbn}"'


def big_goodreads(n: int, tag: str) -> bytes:
    """`n` rows of distinct books (no ISBN, so each is created once and matched after)."""
    shelves = ["read", "to-read", "currently-reading"]
    rows = []
    for i in range(n):
        shelf = shelves[i % 3]
        rows.append({"Book Id": f"{tag}-{i}", "Title": f"Generated {tag} volume {i:05d}",
                     "Author": f"Writer {tag} {i % 97}", "Exclusive Shelf": shelf,
                     "Bookshelves": shelf if i % 5 else f"{shelf}, gen-{i % 4}",
                     "My Rating": str(i % 6) if shelf == "read" else "0",
                     "Date Read": f"2021/{1 + i % 12:02d}/{1 + i % 28:02d}"
                     if shelf == "read" else "",
                     "Date Added": "2020/01/15"})
    return goodreads_csv(rows)


async def upload(http: httpx.AsyncClient, user: UserSession, body: bytes, *,
                 dry_run: bool = False, name: str = "export.csv") -> httpx.Response:
    return await http.post("/api/v1/imports", headers=user.headers,
                           files={"file": (name, body, "text/csv")},
                           data={"dry_run": "true" if dry_run else "false"})


async def wait_done(http: httpx.AsyncClient, user: UserSession, import_id: int,
                    timeout: float = 60.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await http.get(f"/api/v1/imports/{import_id}", headers=user.headers)
        body: dict[str, Any] = r.json()
        return body if body["status"] in ("done", "failed") else None
    return await eventually(check, timeout=timeout)  # type: ignore[no-any-return]


async def all_rows(http: httpx.AsyncClient, user: UserSession, import_id: int) -> list[dict]:  # type: ignore[type-arg]
    out: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor is not None:
            params["cursor"] = cursor
        r = await http.get(f"/api/v1/imports/{import_id}/rows", params=params,
                           headers=user.headers)
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out
