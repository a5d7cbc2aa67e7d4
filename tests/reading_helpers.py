"""Test helpers for the reading life: a book to read, and short REST calls on one's shelves."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts_helpers import UserSession
from tests.catalog_helpers import create_book, random_isbn


async def new_book(http: httpx.AsyncClient, unique: str, **fields: Any) -> dict[str, Any]:
    """A fresh catalog book (300 pages unless told) with an ISBN of its own."""
    isbn13, _ = random_isbn()
    body: dict[str, Any] = {"title": f"Book {unique}", "isbn13": isbn13, "page_count": 300,
                            **fields}
    if body["page_count"] is None:
        del body["page_count"]
    return await create_book(http, **body)


def mine(book_id: int | str, tail: str = "") -> str:
    return f"/api/v1/me/books/{book_id}{tail}"


async def put_state(http: httpx.AsyncClient, user: UserSession, book_id: int,
                    **fields: Any) -> dict[str, Any]:
    r = await http.put(mine(book_id), json=fields, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def progress(http: httpx.AsyncClient, user: UserSession, book_id: int,
                   **fields: Any) -> dict[str, Any]:
    r = await http.post(mine(book_id, "/progress"), json=fields, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
