"""Helpers for the club tests (no tests here): make a club, join, move a reader's progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from arq.connections import create_pool

from jobs.worker import redis_settings
from tests.accounts_helpers import UserSession
from tests.worker_helpers import run_worker, worker_settings


async def make_club(http: httpx.AsyncClient, owner: UserSession, slug: str,
                    **fields: Any) -> dict[str, Any]:
    body = {"name": fields.pop("name", f"Club {slug}"), "slug": slug, **fields}
    r = await http.post("/api/v1/clubs", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def join(http: httpx.AsyncClient, club_id: int, user: UserSession,
               **body: Any) -> httpx.Response:
    return await http.post(f"/api/v1/clubs/{club_id}/join", json=body, headers=user.headers)


async def read_to(http: httpx.AsyncClient, user: UserSession, book_id: int,
                  progression: float) -> None:
    """Move the reader's one reading state of the book (the REST progress update)."""
    r = await http.post(f"/api/v1/me/books/{book_id}/progress",
                        json={"progression": progression}, headers=user.headers)
    assert r.status_code == 200, r.text


async def open_sections_at(engines: Any, at: datetime) -> None:
    """Run the worker's `open_due_sections` once with its clock at `at` (a burst worker)."""
    pool = await create_pool(redis_settings(engines.redis_url))
    try:
        await pool.enqueue_job("open_due_sections", at.isoformat())
    finally:
        await pool.aclose()
    await run_worker(worker_settings(engines))
