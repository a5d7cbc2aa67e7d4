"""REST: a book's cover through this server (domain/ops/covers.py: fetched once, checked,
re-encoded, cached; what `cover_url` points at when READALONG_COVERS_PROXY=1)."""

from __future__ import annotations

import hashlib

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from redis.asyncio import Redis

from domain.db import Database
from domain.ops import covers
from domain.settings import Settings
from server.openapi import Problem
from server.problems import PROBLEM_JSON

DAY = 86_400


class CoversController(Controller):
    path = "/api/v1/books"
    tags = ["catalog"]

    @get("/{book_id:int}/cover", summary="The book's cover image, fetched and cached here",
         responses={
             200: ResponseSpec(data_container=bytes, media_type="image/jpeg",
                               generate_examples=False, description="A JPEG, at most 800 px"),
             502: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON,
                               generate_examples=False,
                               description="The remote cover could not be used: unreachable, "
                                           "too large or not an image (`cover_unavailable`)")})
    async def cover(self, db: Database, redis: Redis, settings: Settings,
                    book_id: int) -> Response[bytes]:
        image = await covers.cover(db, redis, settings, book_id)
        return Response(image, media_type="image/jpeg", headers={
            "Cache-Control": f"public, max-age={DAY}",
            "ETag": '"' + hashlib.sha256(image).hexdigest()[:16] + '"',
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"})


CONTROLLERS = [CoversController]
