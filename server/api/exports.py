"""REST for data rights: the Goodreads CSV export, JSON exports built by the worker and
downloadable by their owner until they expire, and account deletion with a grace period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.response import Response
from redis.asyncio import Redis

from domain.accounts.passwords import passwords_for
from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Gone, Invalid, NotFound
from domain.ids import in_range
from domain.interop import deletion, export
from domain.jobqueue import enqueue_quietly
from domain.settings import Settings
from server.openapi import Problem
from server.problems import PROBLEM_JSON

EXPORT_JOB = "build_export"  # jobs/interop.py


class ExportOut(msgspec.Struct, frozen=True):
    id: int
    status: str
    created_at: str
    ready_at: str | None
    expires_at: str


class DeletionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: str


class DeletionOut(msgspec.Struct, frozen=True):
    scheduled: bool
    due_at: str | None


def _export_out(r: Any) -> ExportOut:
    return ExportOut(id=int(r["id"]), status=r["status"], created_at=r["created_at"].isoformat(),
                     ready_at=r["ready_at"].isoformat() if r["ready_at"] else None,
                     expires_at=r["expires_at"].isoformat())


async def _mine(db: Database, user_id: int, export_id: int, columns: str) -> Any:
    row = None
    if in_range(export_id):
        row = await db.pool.fetchrow(f"SELECT {columns} FROM data_exports WHERE id = $1"
                                     " AND user_id = $2", export_id, user_id)
    if row is None:
        raise NotFound("no such export", code="export_not_found")
    return row


class ExportsController(Controller):
    path = "/api/v1/me"
    tags = ["data rights"]

    @get("/export/goodreads.csv", summary="My shelves as a Goodreads CSV export",
         media_type="text/csv")
    async def goodreads(self, db: Database, user: Principal) -> Response[str]:
        async with db.pool.acquire() as conn:
            body = await export.goodreads_csv(conn, user.user_id)
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="readalong_library_export.csv"'})

    @post("/exports", status_code=202, summary="Ask for a complete JSON export (the worker "
                                               "builds it; it expires after a while)")
    async def ask(self, db: Database, redis: Redis, settings: Settings,
                  user: Principal) -> ExportOut:
        async with db.pool.acquire() as conn:
            export_id = await export.request_export(conn, user.user_id, settings.export_ttl)
        await enqueue_quietly(redis, EXPORT_JOB, export_id)
        return _export_out(await _mine(db, user.user_id, export_id, "*"))

    @get("/exports/{export_id:int}", summary="One of my exports: queued or ready")
    async def status(self, db: Database, user: Principal, export_id: int) -> ExportOut:
        return _export_out(await _mine(db, user.user_id, export_id,
                                       "id, status, created_at, ready_at, expires_at"))

    @get("/exports/{export_id:int}/download", summary="Download a ready export (owner only, "
                                                      "until it expires)",
         responses={409: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON,
                                      description="not ready yet (`export_not_ready`)",
                                      generate_examples=False),
                    410: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON,
                                      description="expired (`export_expired`)",
                                      generate_examples=False)})
    async def download(self, db: Database, user: Principal, export_id: int) -> Response[bytes]:
        row = await _mine(db, user.user_id, export_id, "status, body, expires_at")
        if row["expires_at"] <= datetime.now(UTC):
            raise Gone("this export has expired: ask for a new one", code="export_expired")
        if row["status"] != "ready":
            raise Conflict("this export is not ready yet", code="export_not_ready")
        return Response(bytes(row["body"]), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="readalong-export-{export_id}.json"'})

    @post("/deletion", status_code=202, summary="Delete my account after the grace period "
                                                "(needs my password; cancel until then)")
    async def request_deletion(self, db: Database, settings: Settings, user: Principal,
                               data: DeletionIn) -> DeletionOut:
        stored = await db.pool.fetchval("SELECT password_hash FROM users WHERE id = $1",
                                        user.user_id)
        if not await passwords_for(settings).verify(stored, data.password):
            raise Invalid("the password is not right", code="wrong_password", field="password")
        due = await deletion.request(db, user.user_id, settings.deletion_grace,
                                     datetime.now(UTC))
        return DeletionOut(scheduled=True, due_at=due.isoformat())

    @get("/deletion", summary="Whether my account's deletion is scheduled, and when")
    async def deletion_status(self, db: Database, user: Principal) -> DeletionOut:
        due = await deletion.pending(db, user.user_id)
        return DeletionOut(scheduled=due is not None, due_at=due.isoformat() if due else None)

    @delete("/deletion", summary="Cancel my account's scheduled deletion")
    async def cancel_deletion(self, db: Database, user: Principal) -> None:
        await deletion.cancel(db, user.user_id)


CONTROLLERS = [ExportsController]
