"""REST for the catalog: /api/v1/books (search, read, ISBN lookup, create, edit, delete)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.ai import search as ai_search
from domain.ai.embed import embedder_for
from domain.ai.trending import ViewTally
from domain.catalog import store
from domain.catalog.schemas import Book, BookCreate, BookPage, BookUpdate, SearchQuery
from domain.catalog.search import search_books
from domain.db import Database
from domain.errors import DomainError
from domain.settings import Settings

_ETAG = re.compile(r'(?:W/)?"?v?(\d{1,9})"?')


def etag(book: Book) -> str:
    return f'"v{book.version}"'


def if_match_version(request: Request[Any, Any, Any]) -> int | None:
    """The version named by `If-Match` (`"v3"`, as our ETags are), or None when absent."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    m = _ETAG.fullmatch(header.strip())
    if not m:
        raise DomainError("If-Match must be one ETag of this book, like \"v3\"",
                          code="invalid_if_match", field="If-Match")
    return int(m[1])


def _with_etag(request: Request[Any, Any, Any], book: Book, status: int = 200,
               extra: dict[str, str] | None = None) -> Response[Any]:
    tag = etag(book)
    headers = {"ETag": tag, **(extra or {})}
    if status == 200 and request.headers.get("if-none-match", "").strip() in (tag, "W/" + tag):
        return Response(content=None, status_code=304, headers=headers)
    return Response(content=book, status_code=status, headers=headers)


class BooksController(Controller):
    path = "/api/v1/books"
    tags = ("catalog",)

    @get("/", summary="Search or list books")
    async def search(
        self, db: Database, redis: Redis, settings: Settings,
        q: Annotated[str | None, Parameter(max_length=200, description=(
            "words to find; each is a prefix (type-ahead). Without q, books list by title. "
            "Relevance ranks at most READALONG_SEARCH_CANDIDATES matches per tier: beyond "
            "that, total and facets are estimates and the page says estimated=true"))]
        = None,
        subject: Annotated[list[str] | None, Parameter(
            description="only books with this subject (repeat: all of them)")] = None,
        language: Annotated[list[str] | None, Parameter(
            description="only books in this language (repeat: any of them)")] = None,
        year_from: Annotated[int | None, Parameter(ge=1, le=9999)] = None,
        year_to: Annotated[int | None, Parameter(ge=1, le=9999)] = None,
        cursor: Annotated[str | None, Parameter(description="next_cursor of the previous page")]
        = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        facets: Annotated[bool, Parameter(description="include subject facet counts")] = True,
        mode: Annotated[Literal["keyword", "semantic", "hybrid"], Parameter(description=(
            "keyword (full text), semantic (by meaning) or hybrid (both, fused)"))] = "keyword",
    ) -> BookPage:
        if (subject and len(subject) > 10) or (language and len(language) > 10):
            raise DomainError("at most 10 subject and 10 language filters", code="too_many_filters")
        query = SearchQuery(
            q=q, subjects=tuple(subject or ()), languages=tuple(language or ()),
            year_from=year_from, year_to=year_to, cursor=cursor, limit=limit, facets=facets)
        if mode != "keyword":  # domain/ai/search.py (AI in the workers)
            return await ai_search.search(db, embedder_for(settings), query, mode, redis,
                                          settings.ai_candidates)
        return await search_books(db, query, redis, settings.search_candidates)

    @get("/{book_id:int}", summary="A book with its table of contents", response_headers=None)
    async def get_book(self, request: Request[Any, Any, Any], db: Database,
                       view_tally: ViewTally, book_id: int) -> Response[Book]:
        book = await store.get_book(db, book_id)
        view_tally.add(book.id)  # trending (domain/ai/trending.py), written to Redis once a second
        return _with_etag(request, book)

    @get("/isbn/{isbn:str}", summary="A book by ISBN-10 or ISBN-13")
    async def get_by_isbn(self, request: Request[Any, Any, Any], db: Database,
                          isbn: str) -> Response[Book]:
        return _with_etag(request, await store.get_book_by_isbn(db, isbn))

    @post("/", summary="Add a book (moderators and admins)")
    async def create(self, request: Request[Any, Any, Any], db: Database, user: Principal,
                     data: BookCreate) -> Response[Book]:
        book = await store.create_book(db, user, data)
        return _with_etag(request, book, 201, {"Location": f"/api/v1/books/{book.id}"})

    @patch("/{book_id:int}", summary="Edit a book (moderators and admins; If-Match or version)")
    async def update(self, request: Request[Any, Any, Any], db: Database, user: Principal,
                     book_id: int, data: BookUpdate) -> Response[Book]:
        book = await store.update_book(db, user, book_id, data, if_match_version(request))
        return _with_etag(request, book)

    @delete("/{book_id:int}", summary="Delete a book (admins; If-Match optional)")
    async def remove(self, request: Request[Any, Any, Any], db: Database, user: Principal,
                     book_id: int) -> None:
        await store.delete_book(db, user, book_id, if_match_version(request))
CONTROLLERS = [BooksController]
