"""The closed event types of live leaderboards (listed by /asyncapi.json with their payloads):
`top` in `leaderboard:<key>` and `leaderboard_rank` in the reader's own `user:<id>`."""

from __future__ import annotations

import msgspec

from domain.reading.leaderboards import Entry


class TopData(msgspec.Struct, frozen=True):
    board: str
    period: int  # the bucket: the period's end as epoch seconds (0 for a board that never resets)
    items: list[Entry]


class RankData(msgspec.Struct, frozen=True):
    board: str
    period: int
    rank: int  # 1-based


class LeaderboardTop(msgspec.Struct, tag="top", frozen=True, tag_field="event"):
    """The board's top N changed (coalesced; never pushed twice with the same body)."""

    data: TopData


class LeaderboardRank(msgspec.Struct, tag="leaderboard_rank", frozen=True, tag_field="event"):
    """This reader's rank in a board's bucket changed (sent on their own `user:<id>`)."""

    data: RankData


# Where each is published: the room kind's prefix -> the union listed for it.
LEADERBOARD_ROOM_EVENTS = LeaderboardTop
USER_ROOM_EVENTS = LeaderboardRank
