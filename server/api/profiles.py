"""REST controllers of profiles and the social graph: /api/v1/users/{handle}/..."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.notifications import social_hooks
from domain.social import graph, profiles
from server.deps import Reader


class ProfilesController(Controller):
    path = "/api/v1/users/{handle:str}"
    tags = ["profiles"]

    @get("", summary="A user's profile (visibility enforced)")
    async def profile(self, db: Database, maybe_reader: Reader | None,
                      handle: str) -> profiles.Profile:
        if maybe_reader is None:
            return await profiles.get_profile(db, None, handle)
        return await maybe_reader.answer(profiles.get_profile(db, maybe_reader.principal, handle))

    @get("/followers", summary="Who follows this user (cursor-paged)")
    async def followers(self, db: Database, maybe_user: Principal | None, handle: str,
                        cursor: str | None = None,
                        limit: int = Parameter(default=50)) -> graph.UserPage:
        return await graph.list_of(db, maybe_user, handle, "followers", cursor, limit)

    @get("/following", summary="Whom this user follows (cursor-paged)")
    async def following(self, db: Database, maybe_user: Principal | None, handle: str,
                        cursor: str | None = None,
                        limit: int = Parameter(default=50)) -> graph.UserPage:
        return await graph.list_of(db, maybe_user, handle, "following", cursor, limit)

    @post("/follow", status_code=200,
          summary="Follow (public profile) or ask to follow (followers-only profile)")
    async def follow(self, db: Database, redis: Redis, user: Principal,
                     handle: str) -> graph.FollowState:
        state = await graph.follow(db, user, handle)
        await social_hooks.after_follow(db, redis, user.user_id, handle, state.state)
        return state

    @delete("/follow", summary="Unfollow or withdraw a follow request")
    async def unfollow(self, db: Database, redis: Redis, user: Principal, handle: str) -> None:
        await graph.unfollow(db, user, handle)
        await social_hooks.after_unfollow(db, redis, user.user_id, handle)

    @post("/block", status_code=204, summary="Block: removes follows both ways, hides both")
    async def block(self, db: Database, redis: Redis, user: Principal, handle: str) -> None:
        await graph.block(db, user, handle)
        await social_hooks.after_block(db, redis, user.user_id, handle)

    @delete("/block", summary="Unblock")
    async def unblock(self, db: Database, user: Principal, handle: str) -> None:
        await graph.unblock(db, user, handle)

    @post("/mute", status_code=204, summary="Mute: hide this user's activity from me")
    async def mute(self, db: Database, redis: Redis, user: Principal, handle: str) -> None:
        await graph.mute(db, user, handle)
        await social_hooks.after_unfollow(db, redis, user.user_id, handle)

    @delete("/mute", summary="Unmute")
    async def unmute(self, db: Database, user: Principal, handle: str) -> None:
        await graph.unmute(db, user, handle)


CONTROLLERS = [ProfilesController]
