"""The reading state's wire shapes: input Structs (validated at decode) and output Structs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

Status = Literal["want_to_read", "reading", "read", "did_not_finish"]
Format = Literal["print", "ebook", "audiobook"]
STATUSES: tuple[str, ...] = ("want_to_read", "reading", "read", "did_not_finish")
SHELVES_MAX, SHELF_MAX_LEN, LOCATOR_MAX = 30, 40, 2000

Shelf = Annotated[str, msgspec.Meta(min_length=1, max_length=SHELF_MAX_LEN)]
Locator = Annotated[str, msgspec.Meta(min_length=1, max_length=LOCATOR_MAX)]
Progression = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Percentage = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Page = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Pages = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class StateIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Create or change one's reading state of a book; every field optional (status is needed
    when the state does not exist yet). Dates apply to the current (or latest) read."""

    status: Status | msgspec.UnsetType = msgspec.UNSET
    shelves: Annotated[list[Shelf], msgspec.Meta(max_length=SHELVES_MAX)] | msgspec.UnsetType = (
        msgspec.UNSET)
    format: Format | msgspec.UnsetType | None = msgspec.UNSET
    owned: bool | msgspec.UnsetType = msgspec.UNSET
    private: bool | msgspec.UnsetType = msgspec.UNSET
    total_pages: Pages | msgspec.UnsetType | None = msgspec.UNSET
    started_on: date | msgspec.UnsetType | None = msgspec.UNSET
    finished_on: date | msgspec.UnsetType | None = msgspec.UNSET


class ProgressIn(msgspec.Struct, forbid_unknown_fields=True):
    """A progress update outside live rooms: exactly one of `page`, `percentage` (0-100) or
    `progression` (0-1, optionally with the client's opaque `locator`)."""

    page: Page | None = None
    percentage: Percentage | None = None
    progression: Progression | None = None
    locator: Locator | None = None


class BookBrief(msgspec.Struct, frozen=True):
    id: int
    title: str
    authors: list[str]
    cover_url: str | None
    page_count: int | None


class ReadOut(msgspec.Struct, frozen=True):
    """One read of a book: the first read or a re-read (`number` counts from 1)."""

    id: int
    number: int
    started_on: date | None
    finished_on: date | None
    outcome: str | None  # None: still reading; 'read' or 'did_not_finish'
    progress: float      # furthest progression reached in this read


class StateOut(msgspec.Struct, frozen=True):
    """A reader's state of one book. `furthest` is the one value every spoiler gate reads."""

    id: int
    book: BookBrief
    status: str
    shelves: list[str]
    format: str | None
    owned: bool
    private: bool
    total_pages: int | None
    furthest: float
    furthest_locator: str | None
    position: float | None
    locator: str | None
    page: int | None        # `position` in pages, when the page count is known
    read_count: int         # finished reads
    reads: list[ReadOut]
    created_at: datetime
    updated_at: datetime


class StatePage(msgspec.Struct, frozen=True):
    items: list[StateOut]
    next_cursor: str | None


class AdvanceOut(msgspec.Struct, frozen=True):
    """What a progress update did to the furthest progression."""

    previous: float
    furthest: float
    moved: bool
    pages: int


class ProgressOut(msgspec.Struct, frozen=True):
    state: StateOut
    advance: AdvanceOut


class LogEntry(msgspec.Struct, frozen=True):
    id: int
    book_id: int
    source: str
    progression: float
    page: int | None
    locator: str | None
    furthest: float
    pages: int
    at: datetime


class LogPage(msgspec.Struct, frozen=True):
    items: list[LogEntry]
    next_cursor: str | None


class ShelfCount(msgspec.Struct, frozen=True):
    name: str
    books: int


class ShelvesOut(msgspec.Struct, frozen=True):
    statuses: dict[str, int]
    shelves: list[ShelfCount]
