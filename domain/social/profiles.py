"""Profile use-cases: read a profile by handle (visibility enforced), read and edit one's own."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, Invalid, NotFound
from domain.labels import distinct_labels
from domain.social.rules import (
    VISIBILITIES,
    Relation,
    profile_visible,
    relation_columns,
    relation_from,
)

BIO_MAX = 500
AVATAR_URL_MAX = 500
GENRES_MAX, GENRE_MAX_LEN = 20, 40


class RelationView(msgspec.Struct, frozen=True):
    """The caller's relation to a profile (absent for anonymous callers and for oneself)."""

    following: bool
    requested: bool
    followed_by: bool
    blocking: bool
    muting: bool


class Profile(msgspec.Struct, frozen=True):
    id: int
    handle: str
    display_name: str
    bio: str
    avatar_url: str | None
    favourite_genres: list[str]
    visibility: str
    joined_at: datetime
    followers: int
    following: int
    relation: RelationView | None = None


class MyProfile(msgspec.Struct, frozen=True):
    """One's own account and profile (`GET /api/v1/me`)."""

    id: int
    email: str
    handle: str
    display_name: str
    role: str
    bio: str
    avatar_url: str | None
    favourite_genres: list[str]
    visibility: str
    joined_at: datetime
    followers: int
    following: int
    pending_requests: int


_PROFILE_SQL = """
SELECT u.id, u.email, u.handle, u.display_name, u.role, u.bio, u.avatar_url, u.favourite_genres,
       u.visibility, u.created_at AS joined_at,
       (SELECT count(*) FROM follows f WHERE f.followee_id = u.id AND f.status = 'accepted')
         AS followers,
       (SELECT count(*) FROM follows f WHERE f.follower_id = u.id AND f.status = 'accepted')
         AS following,
       (SELECT count(*) FROM follows f WHERE f.followee_id = u.id AND f.status = 'pending')
         AS pending_requests
FROM users u
"""
_FROM_USERS = "\nFROM users u\n"

# A profile by handle and the viewer's ($2, NULL when anonymous) relation to it: one statement
# (the handle lookup, the row and the relation were three round trips).
_PROFILE_BY_HANDLE_SQL = _PROFILE_SQL.replace(
    _FROM_USERS, ",\n       " + relation_columns("$2::bigint", "u.id") + _FROM_USERS
) + "WHERE lower(u.handle) = lower($1)"


def _profile(row: Any, rel: Relation | None) -> Profile:
    view = None
    if rel is not None and not rel.is_self:
        view = RelationView(following=rel.following, requested=rel.requested,
                            followed_by=rel.followed_by, blocking=rel.blocking,
                            muting=rel.muting)
    return Profile(id=row["id"], handle=row["handle"], display_name=row["display_name"],
                   bio=row["bio"], avatar_url=row["avatar_url"],
                   favourite_genres=list(row["favourite_genres"]), visibility=row["visibility"],
                   joined_at=row["joined_at"], followers=row["followers"],
                   following=row["following"], relation=view)


def _my_profile(row: Any) -> MyProfile:
    values: dict[str, Any] = {k: row[k] for k in MyProfile.__struct_fields__}
    values["favourite_genres"] = list(values["favourite_genres"])
    return MyProfile(**values)


def not_found() -> NotFound:
    return NotFound("no such user", code="user_not_found")


def _handle_of(handle: str) -> str:
    """The handle as looked up (no @, trimmed); 404 for one no account can have."""
    value = (handle or "").strip().lstrip("@")
    if not value or len(value) > 30:
        raise not_found()
    return value


async def user_id_by_handle(db: Database, handle: str) -> int:
    """Resolve a handle (case-insensitive) without any visibility check; 404 if unknown."""
    value = _handle_of(handle)
    user_id = await db.pool.fetchval("SELECT id FROM users WHERE lower(handle) = lower($1)",
                                     value)
    if user_id is None:
        raise not_found()
    return int(user_id)


def ensure_visible(viewer: Principal | None, visibility: str, rel: Relation) -> None:
    """Raise unless `viewer` may see the profile: 404 when hidden (blocked, private), 403 when
    it is a followers-only profile the viewer does not follow (so they can ask to follow)."""
    role = viewer.role if viewer is not None else None
    if profile_visible(visibility, rel, viewer_role=role):
        return
    if visibility == "followers" and not rel.blocked_either_way:
        raise Forbidden("this profile is visible to its followers only",
                        code="profile_followers_only")
    raise not_found()


async def get_profile(db: Database, viewer: Principal | None, handle: str) -> Profile:
    """The public profile of `handle` as `viewer` may see it."""
    viewer_id = viewer.user_id if viewer is not None else None
    row = await db.pool.fetchrow(_PROFILE_BY_HANDLE_SQL, _handle_of(handle), viewer_id)
    if row is None:
        raise not_found()
    rel = relation_from(row, viewer_id, int(row["id"]))
    ensure_visible(viewer, row["visibility"], rel)
    return _profile(row, rel if viewer is not None else None)


async def get_my_profile(db: Database, user_id: int) -> MyProfile:
    row = await db.pool.fetchrow(_PROFILE_SQL + " WHERE u.id = $1", user_id)
    if row is None:
        raise NotFound("this account no longer exists", code="account_gone")
    return _my_profile(row)


def _check_url(url: str) -> str:
    value = url.strip()
    parts = urlsplit(value)
    if (len(value) > AVATAR_URL_MAX or parts.scheme not in ("http", "https") or not parts.netloc
            or any(ch.isspace() for ch in value)):
        raise Invalid("avatar_url must be an http(s) URL of at most 500 characters",
                      code="avatar_url_invalid", field="avatar_url")
    return value


def _check_genres(genres: list[str]) -> list[str]:
    if len(genres) > GENRES_MAX:
        raise Invalid(f"at most {GENRES_MAX} favourite genres", code="genres_invalid",
                      field="favourite_genres")
    return distinct_labels(genres, GENRE_MAX_LEN, str.lower, lambda: Invalid(
        f"each genre must be 1 to {GENRE_MAX_LEN} characters", code="genres_invalid",
        field="favourite_genres"))


async def update_my_profile(db: Database, user_id: int, *,
                            display_name: str | msgspec.UnsetType = msgspec.UNSET,
                            bio: str | msgspec.UnsetType = msgspec.UNSET,
                            avatar_url: str | msgspec.UnsetType | None = msgspec.UNSET,
                            favourite_genres: list[str] | msgspec.UnsetType = msgspec.UNSET,
                            visibility: str | msgspec.UnsetType = msgspec.UNSET) -> MyProfile:
    """Change the given fields of one's own profile (all validated before anything is stored).

    Opening a followers-only profile to the public accepts its pending follow requests.
    """
    from domain.accounts.rules import normalize_display_name

    changes: dict[str, Any] = {}
    if display_name is not msgspec.UNSET:
        changes["display_name"] = normalize_display_name(display_name)
    if bio is not msgspec.UNSET:
        value = bio.strip()
        if len(value) > BIO_MAX:
            raise Invalid(f"bio must be at most {BIO_MAX} characters", code="bio_length",
                          field="bio")
        changes["bio"] = value
    if avatar_url is not msgspec.UNSET:
        changes["avatar_url"] = _check_url(avatar_url) if avatar_url else None
    if favourite_genres is not msgspec.UNSET:
        changes["favourite_genres"] = _check_genres(favourite_genres)
    if visibility is not msgspec.UNSET:
        if visibility not in VISIBILITIES:
            raise Invalid(f"visibility must be one of {', '.join(VISIBILITIES)}",
                          code="visibility_invalid", field="visibility")
        changes["visibility"] = visibility
    if changes:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
        async with db.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"UPDATE users SET {sets}, updated_at = now() WHERE id = $1",
                               user_id, *changes.values())
            if changes.get("visibility") == "public":
                await conn.execute("UPDATE follows SET status = 'accepted' "
                                   "WHERE followee_id = $1 AND status = 'pending'", user_id)
    return await get_my_profile(db, user_id)
