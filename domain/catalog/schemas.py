"""Catalog Structs: Book (out), BookCreate / BookUpdate (in), search page, facets, chapters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

Title = Annotated[str, Meta(min_length=1, max_length=500)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
SubjectName = Annotated[str, Meta(min_length=1, max_length=100)]
ShortText = Annotated[str, Meta(max_length=500)]
Isbn = Annotated[str, Meta(max_length=32)]
Language = Annotated[str, Meta(min_length=2, max_length=35)]
PageCount = Annotated[int, Meta(ge=1, le=100_000)]
Published = Annotated[str, Meta(max_length=10)]
Description = Annotated[str, Meta(max_length=20_000)]
Url = Annotated[str, Meta(max_length=2048)]
Authors = Annotated[list[Name], Meta(max_length=50)]
Subjects = Annotated[list[SubjectName], Meta(max_length=30)]
MAX_CHAPTERS = 2000


class ChapterIn(msgspec.Struct, forbid_unknown_fields=True):
    """A table-of-contents entry as a client sends it; order in the list is reading order."""

    title: Annotated[str, Meta(min_length=1, max_length=300)]
    start: float


Toc = Annotated[list[ChapterIn], Meta(max_length=MAX_CHAPTERS)]


class Chapter(msgspec.Struct, frozen=True):
    """A table-of-contents entry: `index` from 0, `start` a progression in [0, 1)."""

    index: int
    title: str
    start: float


class AuthorRef(msgspec.Struct, frozen=True):
    id: int
    name: str


class Book(msgspec.Struct, frozen=True):
    """A book with its authors, subjects and table of contents; `version` is its ETag."""

    id: int
    title: str
    subtitle: str | None
    authors: list[AuthorRef]
    subjects: list[str]
    language: str
    isbn13: str | None
    isbn10: str | None
    page_count: int | None
    publisher: str | None
    published: str | None
    published_year: int | None
    description: str
    cover_url: str | None
    toc: list[Chapter]
    version: int
    created_at: datetime
    updated_at: datetime


class BookCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new book. Give the ISBN as `isbn` (either form) or `isbn13` / `isbn10`; all must agree."""

    title: Title
    subtitle: ShortText | None = None
    authors: Authors = msgspec.field(default_factory=list)
    subjects: Subjects = msgspec.field(default_factory=list)
    language: Language = "en"
    isbn: Isbn | None = None
    isbn13: Isbn | None = None
    isbn10: Isbn | None = None
    page_count: PageCount | None = None
    publisher: Annotated[str, Meta(max_length=200)] | None = None
    published: Published | None = None
    description: Description = ""
    cover_url: Url | None = None
    toc: Toc = msgspec.field(default_factory=list)


class BookUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A partial edit: absent fields are kept, `null` clears an optional one. Lists replace.

    `version` (or the `If-Match` header) must name the version being edited.
    """

    version: int | UnsetType = UNSET
    title: Title | UnsetType = UNSET
    subtitle: ShortText | UnsetType | None = UNSET
    authors: Authors | UnsetType = UNSET
    subjects: Subjects | UnsetType = UNSET
    language: Language | UnsetType = UNSET
    isbn: Isbn | UnsetType | None = UNSET
    isbn13: Isbn | UnsetType | None = UNSET
    isbn10: Isbn | UnsetType | None = UNSET
    page_count: PageCount | UnsetType | None = UNSET
    publisher: Annotated[str, Meta(max_length=200)] | UnsetType | None = UNSET
    published: Published | UnsetType | None = UNSET
    description: Description | UnsetType = UNSET
    cover_url: Url | UnsetType | None = UNSET
    toc: Toc | UnsetType = UNSET


class BookSummary(msgspec.Struct, frozen=True):
    """A search hit: enough to render a result row (fetch the book for its TOC)."""

    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    subjects: list[str]
    language: str
    isbn13: str | None
    published_year: int | None
    cover_url: str | None
    version: int
    rank: float | None = None


class FacetCount(msgspec.Struct, frozen=True):
    name: str
    count: int


class Facets(msgspec.Struct, frozen=True):
    subjects: list[FacetCount]


class BookPage(msgspec.Struct, frozen=True):
    """One page of results; pass `next_cursor` back as `cursor` for the next (null at the end).

    `estimated` is true when `total` and the facet counts are estimates: a relevance search
    with more matches than it ranks (READALONG_SEARCH_CANDIDATES) counts a sample of them
    instead of every match; false means they are exact."""

    items: list[BookSummary]
    next_cursor: str | None
    total: int
    facets: Facets | None = None
    estimated: bool = False


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a search asks for (built by the controller from query parameters)."""

    q: str | None = None
    subjects: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    cursor: str | None = None
    limit: int = 20
    facets: bool = True
