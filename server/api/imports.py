"""REST for imports: POST /api/v1/imports (multipart `file`, optional `dry_run`), the import's
status and counts, its per-row results, and committing a preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Invalid
from domain.interop import imports
from domain.interop.imports import ImportOut, RowPage
from domain.jobqueue import enqueue_quietly
from domain.settings import Settings

HARD_CAP = 64 * 1024 * 1024  # the most this route ever reads; READALONG_IMPORT_MAX_BYTES is below
Outcome = Literal["matched", "created", "unchanged", "skipped"]
JOB = "run_import"  # jobs/interop.py


class ImportsController(Controller):
    path = "/api/v1/imports"
    tags = ["imports"]

    @post("", status_code=202, request_max_body_size=HARD_CAP,
          summary="Upload a Goodreads or StoryGraph CSV export (multipart field `file`; "
                  "`dry_run=true` for a preview); the worker runs it")
    async def upload(self, request: Request[Any, Any, Any], db: Database, redis: Redis,
                     settings: Settings, user: Principal) -> ImportOut:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise Invalid("upload the export as multipart/form-data in the field `file`",
                          code="import_not_multipart", field="file")
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("the multipart field `file` holds the export", code="import_no_file",
                          field="file")
        raw = await upload.read(settings.import_max_bytes + 1)
        dry = str(form.get("dry_run", "false")).strip().lower() in ("1", "true", "yes", "on")
        out = await imports.start(db, user.user_id, upload.filename or "", raw, dry_run=dry,
                                  max_bytes=settings.import_max_bytes,
                                  max_rows=settings.import_max_rows)
        await enqueue_quietly(redis, JOB, out.id)  # the sweep enqueues it if Redis is down
        return out

    @get("", summary="My imports, newest first")
    async def list_mine(self, db: Database, user: Principal) -> list[ImportOut]:
        return await imports.list_mine(db, user.user_id)

    @get("/{import_id:int}", summary="One import: status, rows done / total, counts")
    async def get_one(self, db: Database, user: Principal, import_id: int) -> ImportOut:
        return await imports.get(db, user.user_id, import_id)

    @get("/{import_id:int}/rows", summary="Per-row results (matched, created, unchanged, "
                                          "skipped with the reason), by row number")
    async def rows(self, db: Database, user: Principal, import_id: int,
                   outcome: Outcome | None = None,
                   cursor: Annotated[int | None, Parameter(ge=0)] = None,
                   limit: Annotated[int, Parameter(ge=1, le=500)] = 100) -> RowPage:
        return await imports.rows(db, user.user_id, import_id, outcome=outcome, after=cursor,
                                  limit=limit)

    @post("/{import_id:int}/commit", status_code=202,
          summary="Run a finished preview for real")
    async def commit(self, db: Database, redis: Redis, user: Principal,
                     import_id: int) -> ImportOut:
        out = await imports.commit(db, user.user_id, import_id)
        await enqueue_quietly(redis, JOB, out.id)
        return out


CONTROLLERS = [ImportsController]
