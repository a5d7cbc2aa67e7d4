"""REST for leaderboards (/api/v1/leaderboards) and the per-process live pusher they share."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.ids import Id
from domain.reading import club_boards, leaderboards
from domain.reading.boards import BOARDS
from domain.reading.clock import utcnow
from domain.reading.leaderboards import BoardInfo, BoardPage, Score
from domain.settings import Settings
from realtime.publisher import Publisher
from realtime.rooms.leaderboard import LeaderboardPusher
from server.deps import services_of

Period = Annotated[int | None, Parameter(ge=0, le=2**40, description=(
    "a bucket: its period's end in unix seconds (0 for boards that never reset); default: now"))]
Limit = Annotated[int, Parameter(ge=1, le=100)]


def pusher_of(state: State, db: Database, redis: Redis, settings: Settings) -> LeaderboardPusher:
    """This process's pusher (made on first use, closed with the app)."""
    services = services_of(state)
    pusher = services.leaderboard_pusher
    if pusher is None:
        made = services.leaderboard_pusher = LeaderboardPusher(
            db, redis, Publisher(redis, settings))

        async def close(app: Any, services: Any) -> None:
            await made.close()

        services.on_shutdown.append(close)
        return made
    return pusher


def push_for(state: State, db: Database, redis: Redis, settings: Settings) -> Any:
    """The `events.Push` the reading use-cases get after their commit."""
    async def push(scores: list[Score]) -> None:
        await pusher_of(state, db, redis, settings).changed(scores)
    return push


async def _bucket(db: Database, key: str, period: int | None,
                  viewer_id: int | None) -> tuple[str, int]:
    """(record key, bucket) of a board as named in the path: `pages-week`, or a club board
    `club-pages-month:<club id>` (a non-public club's board: its members only, else 404)."""
    board, name, club_id = leaderboards.bucket_of(key)
    if club_id is not None:
        await club_boards.check_access(db.pool, club_id, viewer_id)
    return name, period if period is not None else leaderboards.info(board, utcnow()).period


class LeaderboardsController(Controller):
    path = "/api/v1/leaderboards"
    tags = ["leaderboards"]

    @get("", summary="Every leaderboard with its operator, reset and current/previous bucket")
    async def list_boards(self) -> list[BoardInfo]:
        now = utcnow()
        return [leaderboards.info(b, now) for b in BOARDS.values() if b.public]

    @get("/{key:str}", summary="Top of a board (cursor-paged); ties: subscore, then owner id;"
         " a club board is `<key>:<club id>`")
    async def top(self, db: Database, redis: Redis, maybe_user: Principal | None, key: str,
                  period: Period = None, cursor: str | None = None,
                  limit: Limit = 20) -> BoardPage:
        board, bucket = await _bucket(db, key, period, maybe_user.user_id if maybe_user else None)
        return await leaderboards.top(db, redis, board, bucket, cursor=cursor, limit=limit,
                                      viewer_id=maybe_user.user_id if maybe_user else None)

    @get("/{key:str}/around-me", summary="My rank with my neighbours")
    async def around_me(self, db: Database, redis: Redis, user: Principal, key: str,
                        period: Period = None, limit: Limit = 11) -> BoardPage:
        board, bucket = await _bucket(db, key, period, user.user_id)
        return await leaderboards.around(db, redis, board, bucket, user.user_id, limit=limit)

    @get("/{key:str}/friends", summary="Me and the readers I follow, ranked on the board")
    async def friends(self, db: Database, redis: Redis, user: Principal, key: str,
                      period: Period = None) -> BoardPage:
        board, bucket = await _bucket(db, key, period, user.user_id)
        ids = await leaderboards.following_ids(db, user.user_id)
        return await leaderboards.owners(db, redis, board, bucket, [user.user_id, *ids],
                                         viewer_id=user.user_id)

    @get("/{key:str}/owners", summary="Records of the given owners (repeat `id`)")
    async def by_owner(self, db: Database, redis: Redis, maybe_user: Principal | None,
                       key: str, id: Annotated[list[Id], Parameter(max_items=100)],
                       period: Period = None) -> BoardPage:
        board, bucket = await _bucket(db, key, period, maybe_user.user_id if maybe_user else None)
        return await leaderboards.owners(db, redis, board, bucket, list(id),
                                         viewer_id=maybe_user.user_id if maybe_user else None)


CONTROLLERS = [LeaderboardsController]
