"""Wire shapes of reviews, ratings, likes, comments, reports and moderation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Rating = Annotated[float, msgspec.Meta(ge=0.5, le=5.0)]
Reason = Literal["spam", "abuse", "spoiler", "off_topic", "other"]
ModReason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """A review of my current (or latest) read. `rating` from 0.5 to 5, kept to the nearest
    quarter star (half up: 3.8 → 3.75, 3.875 → 4.0); `body` in the safe Markdown subset."""

    rating: Rating | None = None
    body: str = ""
    spoiler: bool = False


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ModerationIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: ModReason


class Card(msgspec.Struct, frozen=True):
    id: int
    handle: str
    display_name: str


class ReviewOut(msgspec.Struct, frozen=True):
    """A review as this viewer may see it. Redacted: `body_html` has its spoiler spans replaced
    (or is None for a review flagged as a whole), `body` (the source) is absent."""

    id: int
    book_id: int
    author: Card
    rating: float | None
    body_html: str | None
    body: str | None
    spoiler: bool
    has_spoiler_spans: bool
    redacted: bool
    likes: int
    liked: bool
    comments: int
    read_number: int | None
    hidden: bool
    created_at: datetime
    edited_at: datetime | None


class ReviewPage(msgspec.Struct, frozen=True):
    items: list[ReviewOut]
    next_cursor: str | None


class RatingOut(msgspec.Struct, frozen=True):
    """A book's ratings: `histogram[i]` counts ratings of (i + 1) half stars."""

    book_id: int
    count: int
    average: float | None
    histogram: list[int]


class CommentOut(msgspec.Struct, frozen=True):
    id: int
    review_id: int
    author: Card
    body_html: str
    created_at: datetime


class CommentPage(msgspec.Struct, frozen=True):
    items: list[CommentOut]
    next_cursor: str | None


class ReportOut(msgspec.Struct, frozen=True):
    id: int
    review_id: int
    reporter: Card
    reason: str
    note: str
    created_at: datetime
    review_hidden: bool


class ReportPage(msgspec.Struct, frozen=True):
    items: list[ReportOut]
    next_cursor: str | None


class LikeOut(msgspec.Struct, frozen=True):
    liked: bool
    likes: int
