"""REST for book clubs: clubs, the directory, membership, join requests, invitation links,
roles, bans and mutes (`/api/v1/clubs…`). Rules live in domain/clubs."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.clubs import clubs, invites, members
from domain.clubs.room_events import Banned, BannedData, Evicted, EvictedData, Left, wire
from domain.clubs.schemas import (
    BanIn,
    ClubCreate,
    ClubOut,
    ClubPage,
    ClubUpdate,
    InviteCreate,
    InviteOut,
    InviteUsers,
    JoinIn,
    JoinOut,
    MemberPage,
    MuteChange,
    RequestPage,
    RoleChange,
    Transfer,
)
from domain.clubs.venue import may_not_read, thread_rooms
from domain.db import Database
from domain.discussion.listings import parse_cursor
from domain.ids import MAX_ID
from realtime import access, control
from realtime.presence import presence_key
from realtime.rooms.base import RoomEvent
from realtime.rooms.positions.live import drop_member
from server.api._requests import Done, found
from server.deps import services_of


class ClubController(Controller):
    path = "/api/v1/clubs"
    tags = ["clubs"]

    @post("", summary="Create a club (you become its owner)")
    async def create(self, data: ClubCreate, db: Database, user: Principal) -> ClubOut:
        return await clubs.create(db, user, data)

    @get("", summary="The directory of public clubs: full-text `q`, book and language filters,"
                     " most active first")
    async def directory(self, db: Database, maybe_user: Principal | None,
                        q: str | None = Parameter(default=None, max_length=200),
                        book_id: int | None = Parameter(default=None, ge=1, le=MAX_ID),
                        language: str | None = Parameter(default=None, max_length=16),
                        cursor: str | None = None,
                        limit: int = Parameter(default=20, ge=1, le=100)) -> ClubPage:
        return await clubs.directory(db, maybe_user, q, book_id, language, cursor, limit)

    @get("/mine", summary="The clubs I am a member of")
    async def mine(self, db: Database, user: Principal) -> ClubPage:
        return await clubs.mine(db, user)

    @get("/by-slug/{slug:str}", summary="A club by its slug")
    async def by_slug(self, slug: str, db: Database, maybe_user: Principal | None) -> ClubOut:
        return await clubs.by_slug(db, slug, maybe_user)

    @get("/{club_id:int}", summary="A club (secret clubs: members only; banned users: 404)")
    async def get_club(self, club_id: int, db: Database,
                       maybe_user: Principal | None) -> ClubOut:
        found(club_id=club_id)
        return await clubs.get(db, club_id, maybe_user)

    @patch("/{club_id:int}", summary="Edit a club (organisers; visibility and policy: owner)")
    async def edit(self, club_id: int, data: ClubUpdate, db: Database, redis: Redis,
                   user: Principal, state: State) -> ClubOut:
        found(club_id=club_id)
        out = await clubs.update(db, club_id, user, data, redis)
        if data.book_id is not msgspec.UNSET:  # committed: every node re-reads the club's
            await control.publish(redis, control.Reshield(room=clubs.room_of(club_id)))  # book
        if data.visibility is not msgspec.UNSET and data.visibility != "public":
            await evict_non_readers(state, club_id)  # committed: private or secret
        return out

    @post("/{club_id:int}/join", status_code=200,
          summary="Join (open, or with an invitation link) or ask to join (approval)")
    async def join(self, club_id: int, db: Database, redis: Redis, user: Principal,
                   data: JoinIn | None = None) -> JoinOut:
        found(club_id=club_id)
        return await members.join(db, redis, club_id, user, data or JoinIn())

    @post("/{club_id:int}/leave", status_code=200, summary="Leave a club (not the owner)")
    async def leave(self, club_id: int, db: Database, user: Principal, state: State) -> Done:
        found(club_id=club_id)
        await members.leave(db, club_id, user)
        await evict_member(state, club_id, user.user_id, banned=False)
        return Done()

    @get("/{club_id:int}/members", summary="Members (blocked users left out)")
    async def members(self, club_id: int, db: Database, maybe_user: Principal | None,
                      cursor: str | None = None,
                      limit: int = Parameter(default=50, ge=1, le=200)) -> MemberPage:
        found(club_id=club_id)
        return await members.members(db, club_id, maybe_user, parse_cursor(cursor), limit)

    @put("/{club_id:int}/members/{user_id:int}/role", summary="Make a member a moderator or"
                                                               " back (owner)")
    async def role(self, club_id: int, user_id: int, data: RoleChange, db: Database,
                   user: Principal) -> Done:
        found(club_id=club_id, user_id=user_id)
        await members.set_role(db, club_id, user, user_id, data.role)
        return Done()

    @put("/{club_id:int}/members/{user_id:int}/mute", summary="Mute a member in club chat")
    async def mute(self, club_id: int, user_id: int, data: MuteChange, db: Database,
                   user: Principal) -> Done:
        found(club_id=club_id, user_id=user_id)
        await members.set_muted(db, club_id, user, user_id, data.muted)
        return Done()

    @post("/{club_id:int}/transfer", status_code=200, summary="Hand the club to a member")
    async def transfer(self, club_id: int, data: Transfer, db: Database,
                       user: Principal) -> Done:
        found(club_id=club_id)
        await members.transfer(db, club_id, user, data.user_id)
        return Done()

    @post("/{club_id:int}/bans", status_code=200, summary="Ban a user (organisers)")
    async def ban(self, club_id: int, data: BanIn, db: Database, user: Principal,
                  state: State) -> Done:
        found(club_id=club_id)
        await members.ban(db, club_id, user, data)
        await evict_member(state, club_id, data.user_id)
        return Done()

    @delete("/{club_id:int}/bans/{user_id:int}", status_code=200, summary="Lift a ban")
    async def unban(self, club_id: int, user_id: int, db: Database, user: Principal) -> Done:
        found(club_id=club_id, user_id=user_id)
        await members.unban(db, club_id, user, user_id)
        return Done()

    @get("/{club_id:int}/requests", summary="Pending join requests (organisers)")
    async def requests(self, club_id: int, db: Database, user: Principal) -> RequestPage:
        found(club_id=club_id)
        return await members.requests(db, club_id, user)

    @post("/{club_id:int}/requests/{request_id:int}/approve", status_code=200,
          summary="Approve a join request")
    async def approve(self, club_id: int, request_id: int, db: Database, redis: Redis,
                      user: Principal) -> JoinOut:
        found(club_id=club_id, request_id=request_id)
        return await members.decide(db, redis, club_id, user, request_id, True)

    @post("/{club_id:int}/requests/{request_id:int}/decline", status_code=200,
          summary="Decline a join request")
    async def decline(self, club_id: int, request_id: int, db: Database, redis: Redis,
                      user: Principal) -> JoinOut:
        found(club_id=club_id, request_id=request_id)
        return await members.decide(db, redis, club_id, user, request_id, False)

    @post("/{club_id:int}/invites", summary="Make an invitation link (expiry, use limit)")
    async def invite(self, club_id: int, data: InviteCreate, db: Database,
                     user: Principal) -> InviteOut:
        found(club_id=club_id)
        return await invites.create(db, club_id, user, data)

    @post("/{club_id:int}/invitations", status_code=200,
          summary="Invite users directly (each gets a single-use link by notification)")
    async def invite_users(self, club_id: int, data: InviteUsers, db: Database, redis: Redis,
                           user: Principal) -> dict[str, int]:
        found(club_id=club_id)
        return {"invited": await invites.invite_users(db, redis, club_id, user,
                                                      list(data.user_ids))}

    @get("/{club_id:int}/invites", summary="The club's invitation links (organisers)")
    async def invites(self, club_id: int, db: Database, user: Principal) -> list[InviteOut]:
        found(club_id=club_id)
        return await invites.listing(db, club_id, user)

    @delete("/{club_id:int}/invites/{invite_id:int}", status_code=200,
            summary="Revoke an invitation link")
    async def revoke(self, club_id: int, invite_id: int, db: Database, user: Principal) -> Done:
        found(club_id=club_id, invite_id=invite_id)
        await invites.revoke(db, club_id, user, invite_id)
        return Done()


async def evict_member(state: State, club_id: int, user_id: int, banned: bool = True) -> None:
    """After the commit of a leave or a ban: drop the user's sockets on every node from
    `club:<id>` and from every section thread of the club (`club_thread:<section id>`), each
    socket first getting `banned` / `left` in that room (one control message per room, on the
    room's channel: in order with its events), and their right to move in any of them. A new
    subscription is then refused where the club's rules say so (`check_club_readable`: a
    private or secret club's rooms are for members), and so is one in flight whose check came
    before the commit (`realtime.access`)."""
    hub = services_of(state).hub
    if hub is not None and hub.redis is not None:
        db = services_of(state).db
        threads = await thread_rooms(db, club_id) if db is not None else []
        rooms = (clubs.room_of(club_id), *threads)
        await access.withdraw(hub.redis, rooms)  # (a subscribe in flight checks again)
        for room in rooms:  # their next move in any of them is refused (`not_member`)
            await drop_member(hub.redis, room, user_id)
        who = BannedData(user_id=user_id, club_id=club_id)
        name, data = wire(Banned(who) if banned else Left(who))
        for room in rooms:
            await hub.evict(room, user_id, RoomEvent(name, data))


async def evict_non_readers(state: State, club_id: int) -> None:
    """After the commit of a visibility change: the users present (presence, every node) in
    `club:<id>` or a section thread of the club who may no longer read it (non-members of a
    private or secret club) leave each of those rooms on every node, each socket first
    getting `evicted` (reason `club_private`) there; subscribing again is refused
    (`check_club_readable`), and so is a subscribe in flight, not yet in presence, whose
    check came before the commit (`realtime.access`)."""
    hub = services_of(state).hub
    db = services_of(state).db
    if hub is None or hub.redis is None or db is None:
        return
    rooms = (clubs.room_of(club_id), *await thread_rooms(db, club_id))
    await access.withdraw(hub.redis, rooms)  # before presence is read: see realtime.access
    present = {room: {int(u) for u in await hub.redis.hkeys(presence_key(room))}  # type: ignore[misc]
               for room in rooms}
    out = set(await may_not_read(db, club_id, sorted(set().union(*present.values()))))
    for room in rooms:
        for user_id in sorted(present[room] & out):
            name, data = wire(Evicted(EvictedData(user_id=user_id, club_id=club_id,
                                                  reason="club_private")))
            await hub.evict(room, user_id, RoomEvent(name, data))


class BookClubsController(Controller):
    path = "/api/v1/books/{book_id:int}/clubs"
    tags = ["clubs"]

    @get("", summary="Clubs reading this book (public ones, most active first)")
    async def reading(self, book_id: int, db: Database, maybe_user: Principal | None,
                      cursor: str | None = None,
                      limit: int = Parameter(default=20, ge=1, le=100)) -> ClubPage:
        found(book_id=book_id)
        return await clubs.directory(db, maybe_user, None, book_id, None, cursor, limit)


CONTROLLERS: list[Any] = [ClubController, BookClubsController]
