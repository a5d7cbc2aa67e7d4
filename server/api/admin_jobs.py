"""REST controller for admins: background jobs that failed for good, with their errors."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden
from domain.failed_jobs import FailedJobPage, Retried, list_failures, retry_failure


class AdminJobsController(Controller):
    path = "/api/v1/admin/jobs"
    tags = ["admin"]

    @get("/failed", summary="Jobs that ran out of retries, newest first (admins only)")
    async def failed(self, db: Database, user: Principal, cursor: str | None = None,
                     limit: int = Parameter(default=50),
                     function: str | None = None) -> FailedJobPage:
        if not user.is_admin:
            raise Forbidden("admins only", code="admin_only")
        return await list_failures(db, cursor=cursor, limit=limit, function=function)

    @post("/failed/{failure_id:int}/retry", status_code=202,
          summary="Queue a failed job again with its arguments (admins only)")
    async def retry(self, db: Database, redis: Redis, user: Principal,
                    failure_id: int) -> Retried:
        if not user.is_admin:
            raise Forbidden("admins only", code="admin_only")
        return await retry_failure(db, redis, failure_id)


CONTROLLERS = [AdminJobsController]
