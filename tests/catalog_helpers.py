"""Test helpers for the catalog: role tokens signed like the server's, random ISBNs, books."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from domain.accounts.tokens import issue_access_token
from domain.catalog.isbn import isbn13_to_10, make_isbn13
from domain.settings import DEFAULT_SECRET_KEY

_rng = random.Random()


def auth(role: str, user_id: int | None = None) -> dict[str, str]:
    """Authorization headers of a (synthetic) user with `role`, signed with the test secret."""
    token, _ = issue_access_token(DEFAULT_SECRET_KEY, user_id or _rng.randrange(10**8, 10**9),
                                  role, 600)
    return {"Authorization": f"Bearer {token}"}


def random_isbn() -> tuple[str, str]:
    """A fresh valid (ISBN-13, ISBN-10) pair with the 978 prefix."""
    isbn13 = make_isbn13("978" + f"{_rng.randrange(10**9):09d}")
    ten = isbn13_to_10(isbn13)
    assert ten is not None
    return isbn13, ten


def hyphenate13(isbn13: str) -> str:
    return f"{isbn13[:3]}-{isbn13[3]}-{isbn13[4:8]}-{isbn13[8:12]}-{isbn13[12]}"


async def create_book(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """POST a book as a moderator; returns the created book (asserts 201)."""
    body = {"authors": ["Test Author"], **fields}
    r = await http.post("/api/v1/books", json=body, headers=auth("moderator"))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def create_many(http: httpx.AsyncClient, bodies: list[dict[str, Any]],
                      concurrency: int = 8) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            return await create_book(http, **body)

    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def search(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await http.get("/api/v1/books", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
