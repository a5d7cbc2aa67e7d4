"""The events a club room carries besides the discussion's (typed, for the AsyncAPI document;
`data` is what rides in the `event` frame)."""

from __future__ import annotations

import typing

import msgspec


class SectionOpenedData(msgspec.Struct, frozen=True):
    club_id: int
    section_id: int
    title: str
    start: float
    end: float
    room: str            # the section thread's room, `club_thread:<section id>`
    status: str = "open"


class SectionOpened(msgspec.Struct, tag="section_opened", frozen=True, tag_field="event"):
    """A schedule section opened (the worker, on time): its thread takes posts now."""

    data: SectionOpenedData


class OptionCount(msgspec.Struct, frozen=True):
    option_id: int
    votes: int


class PollData(msgspec.Struct, frozen=True):
    poll_id: int
    club_id: int
    question: str
    voters: int          # how many members voted
    closed: bool = False
    #: per-option counts: only when they show to every reader (a `live` poll, or once closed)
    counts: list[OptionCount] | None = None


class PollOpened(msgspec.Struct, tag="poll_opened", frozen=True, tag_field="event"):
    """An organiser opened a poll in the club."""

    data: PollData


class PollVoted(msgspec.Struct, tag="poll_voted", frozen=True, tag_field="event"):
    """Someone voted in a poll of the club: the live results (see `PollData.counts`)."""

    data: PollData


class PollClosed(msgspec.Struct, tag="poll_closed", frozen=True, tag_field="event"):
    """A poll closed (on time, by the worker, or early by an organiser): its final results."""

    data: PollData


class BannedData(msgspec.Struct, frozen=True):
    user_id: int
    club_id: int


class Banned(msgspec.Struct, tag="banned", frozen=True, tag_field="event"):
    """The receiver was banned: their sockets leave the club's rooms."""

    data: BannedData


class Left(msgspec.Struct, tag="left", frozen=True, tag_field="event"):
    """The receiver left the club: their sockets leave its rooms (a public club's room may be
    joined again as a reader)."""

    data: BannedData


class EvictedData(msgspec.Struct, frozen=True):
    user_id: int
    club_id: int
    reason: str          # `club_private`: the club is no longer public


class Evicted(msgspec.Struct, tag="evicted", frozen=True, tag_field="event"):
    """The receiver, not a member, may no longer read the club (made private or secret):
    their sockets leave its rooms (subscribing again is refused)."""

    data: EvictedData


ClubEvent = SectionOpened | PollOpened | PollVoted | PollClosed | Banned | Left | Evicted
CLUB_EVENTS: tuple[type[msgspec.Struct], ...] = typing.get_args(ClubEvent)


def wire(ev: ClubEvent) -> tuple[str, dict[str, typing.Any]]:
    """(event name, data) for realtime's RoomEvent."""
    return str(ev.__struct_config__.tag), msgspec.to_builtins(ev.data)
