"""Bodies of club events (RSVP, calendars) and polls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from domain.ids import Id

EventKind = Literal["discussion", "qa", "meetup", "coreading"]
Answer = Literal["going", "maybe", "no"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Url = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://\S+$")]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
#: When a poll's per-option counts show: `live` (to every reader, live on the club room),
#: `after_vote` (to members who voted; to all once closed), `after_close`.
ResultsMode = Literal["live", "after_vote", "after_close"]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    kind: EventKind
    starts_at: datetime
    ends_at: datetime
    description: Text = ""
    time_zone: Zone = "UTC"
    location: Annotated[str, msgspec.Meta(max_length=500)] = ""
    url: Url | None = None
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class EventUpdate(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    starts_at: datetime | msgspec.UnsetType = msgspec.UNSET
    ends_at: datetime | msgspec.UnsetType = msgspec.UNSET
    location: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    time_zone: Zone | msgspec.UnsetType = msgspec.UNSET
    url: Url | msgspec.UnsetType | None = msgspec.UNSET
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | msgspec.UnsetType | None = \
        msgspec.UNSET


class EventOut(msgspec.Struct):
    id: int
    club_id: int
    title: str
    description: str
    kind: EventKind
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    location: str
    url: str | None
    capacity: int | None
    sequence: int
    status: Literal["confirmed", "cancelled"]
    going: int
    maybe: int
    no: int
    my_answer: Answer | None = None
    session_id: int | None = None   # a co-reading event's linked session


class RsvpIn(msgspec.Struct, forbid_unknown_fields=True):
    answer: Answer


class Attendee(msgspec.Struct):
    user_id: int
    display_name: str
    answer: Answer


class PollIn(msgspec.Struct, forbid_unknown_fields=True):
    """Options are free text, or catalog books (`book_id`: the label is the book's title)."""

    question: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    options: Annotated[list[PollOptionIn], msgspec.Meta(min_length=2, max_length=20)]
    multiple: bool = False
    anonymous: bool = True
    closes_at: datetime | None = None
    results: ResultsMode = "live"


class PollOptionIn(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    book_id: Id | None = None


class VoteIn(msgspec.Struct, forbid_unknown_fields=True):
    option_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=20)]


class PollOptionOut(msgspec.Struct):
    id: int
    label: str
    book_id: int | None
    votes: int | None  # None while results are hidden (see `PollIn.results`)
    #: who chose it (a poll that is not anonymous, while results show; blocked users left out)
    voter_ids: list[int] | None = None


class PollOut(msgspec.Struct):
    id: int
    club_id: int
    question: str
    multiple: bool
    anonymous: bool
    closes_at: datetime | None
    closed: bool
    voters: int
    options: list[PollOptionOut]
    my_votes: list[int]
    results_visible: bool
    results: ResultsMode = "live"
    closed_at: datetime | None = None
