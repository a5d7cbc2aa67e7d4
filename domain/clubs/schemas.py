"""Club request and response bodies (msgspec): clubs, members, requests, invites, sections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from domain.ids import Id

Visibility = Literal["public", "private", "secret"]
JoinPolicy = Literal["open", "approval", "invitation"]
Role = Literal["owner", "moderator", "member"]
Slug = Annotated[str, msgspec.Meta(min_length=3, max_length=60,
                                   pattern=r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Rules = Annotated[str, msgspec.Meta(max_length=8000)]
Url = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^https?://\S+$")]
Cap = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Lang = Annotated[str, msgspec.Meta(min_length=2, max_length=16, pattern=r"^[A-Za-z-]+$")]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # IANA, e.g. Europe/Paris


class ClubCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    slug: Slug
    description: Text = ""
    cover_url: Url | None = None
    visibility: Visibility = "public"
    join_policy: JoinPolicy = "open"
    member_cap: Cap | None = None
    rules: Rules = ""
    language: Lang | None = None
    book_id: Id | None = None
    time_zone: Zone = "UTC"  # schedule times without an offset are read in it


class ClubUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change (`member_cap`/`cover_url` null: none)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    cover_url: Url | msgspec.UnsetType | None = msgspec.UNSET
    visibility: Visibility | msgspec.UnsetType = msgspec.UNSET
    join_policy: JoinPolicy | msgspec.UnsetType = msgspec.UNSET
    member_cap: Cap | msgspec.UnsetType | None = msgspec.UNSET
    rules: Rules | msgspec.UnsetType = msgspec.UNSET
    language: Lang | msgspec.UnsetType | None = msgspec.UNSET
    book_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    time_zone: Zone | msgspec.UnsetType = msgspec.UNSET


class ClubOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    description: str
    cover_url: str | None
    visibility: Visibility
    join_policy: JoinPolicy
    member_cap: int | None
    rules: str
    language: str | None
    owner_id: int
    book_id: int | None
    member_count: int
    created_at: datetime
    active_at: datetime
    room: str
    time_zone: str = "UTC"
    my_role: Role | None = None   # the caller's role (None: not a member)
    requested: bool = False       # the caller has a pending join request


class ClubPage(msgspec.Struct):
    items: list[ClubOut]
    next_cursor: str | None


class MemberOut(msgspec.Struct):
    user_id: int
    handle: str
    display_name: str
    role: Role
    joined_at: datetime
    muted: bool = False


class MemberPage(msgspec.Struct):
    items: list[MemberOut]
    next_cursor: str | None


class RoleChange(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["moderator", "member"]


class MuteChange(msgspec.Struct, forbid_unknown_fields=True):
    muted: bool


class Transfer(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id


class BanIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class JoinIn(msgspec.Struct, forbid_unknown_fields=True):
    """`invite`: an invitation link's token; `message`: for an approval request."""

    invite: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class JoinOut(msgspec.Struct):
    status: Literal["joined", "requested", "member"]
    club_id: int
    request_id: int | None = None


class RequestOut(msgspec.Struct):
    id: int
    club_id: int
    user_id: int
    handle: str
    display_name: str
    message: str
    status: str
    created_at: datetime


class RequestPage(msgspec.Struct):
    items: list[RequestOut]
    next_cursor: str | None


class InviteCreate(msgspec.Struct, forbid_unknown_fields=True):
    expires_in_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 365)] | None = None
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class InviteOut(msgspec.Struct):
    id: int
    club_id: int
    token: str
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


class SectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Times without an offset are in the club's time zone."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    start: Fraction
    end: Fraction
    opens_at: datetime
    discussion_at: datetime | None = None  # the optional discussion date (e.g. a meeting)


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    """The current book's sections; without `sections`, one per TOC chapter, `every_days` apart
    from `first_opens_at`."""

    sections: list[SectionIn] | None = None
    first_opens_at: datetime | None = None
    every_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7


class ShiftIn(msgspec.Struct, forbid_unknown_fields=True):
    """Move every not-yet-opened section (or one: `section_id`) by `hours`."""

    hours: Annotated[int, msgspec.Meta(ge=-24 * 365, le=24 * 365)]
    section_id: Id | None = None


class SectionOut(msgspec.Struct):
    id: int
    club_id: int
    book_id: int
    position: int
    title: str
    start: float
    end: float
    opens_at: datetime
    open: bool
    locked: bool            # the caller is behind the section's start: counts only
    unlocks_at: float       # where the caller's view of it unlocks (its start)
    post_count: int
    room: str
    thread_locked: bool = False       # only organisers post while locked
    pinned_message_id: int | None = None
    discussion_at: datetime | None = None
    time_zone: str = "UTC"            # the club's: how to show the dates


class SectionPage(msgspec.Struct):
    items: list[SectionOut]


class PostIn(msgspec.Struct, forbid_unknown_fields=True):
    """A section-thread post; `spoiler_free` lowers its gate to the section's start;
    `parent_id` makes it a reply (one level: a reply to a reply hangs under the same post,
    never gated below what it answers)."""

    body: str
    spoiler_free: bool = False
    parent_id: Id | None = None


class PostEdit(msgspec.Struct, forbid_unknown_fields=True):
    body: str


class PostReaction(msgspec.Struct, forbid_unknown_fields=True):
    """An emoji on a thread post (gated at max(the post's gate, my furthest))."""

    emoji: str


class ThreadChange(msgspec.Struct, forbid_unknown_fields=True):
    """Organisers lock/unlock a section thread or pin one of its posts (null: unpin)."""

    locked: bool | msgspec.UnsetType = msgspec.UNSET
    pinned_message_id: Id | msgspec.UnsetType | None = msgspec.UNSET


class InviteUsers(msgspec.Struct, forbid_unknown_fields=True):
    user_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=50)]
