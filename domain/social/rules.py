"""The one place that answers "may A see B?": relations, profile visibility, blocks and mutes.

Later features (co-reading rooms, notifications, feeds) import these. Every function is a single
indexed query (or none at all), so calling one per request or per room join is cheap.

- A **block** (either direction) makes two users invisible to each other everywhere: profiles
  answer 404, lists and rooms leave the other out, follows between them are gone.
- A **mute** hides the muted user's activity from the muter only; the muted user notices
  nothing. `hidden_user_ids` is the set to filter out of what a user is shown.
- **Profile visibility**: `public` (everyone, also anonymous), `followers` (accepted followers),
  `private` (nobody). The owner always sees their own profile; moderators and admins see all.
  Blocks apply before visibility (except for staff).
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.db import Database

VISIBILITIES = ("public", "followers", "private")
STAFF_ROLES = ("moderator", "admin")


class Relation(msgspec.Struct, frozen=True):
    """How `viewer` stands towards `owner` (all False for an anonymous viewer)."""

    is_self: bool = False
    following: bool = False    # viewer follows owner (accepted)
    requested: bool = False    # viewer asked to follow owner (pending)
    followed_by: bool = False  # owner follows viewer (accepted)
    blocking: bool = False     # viewer blocked owner
    blocked_by: bool = False   # owner blocked viewer
    muting: bool = False       # viewer muted owner

    @property
    def blocked_either_way(self) -> bool:
        return self.blocking or self.blocked_by


def profile_visible(visibility: str, relation: Relation, *, viewer_role: str | None) -> bool:
    """The pure rule: may a viewer with this relation and role see a profile of `visibility`?"""
    if relation.is_self or viewer_role in STAFF_ROLES:
        return True
    if relation.blocked_either_way:
        return False
    if visibility == "public":
        return True
    if visibility == "followers":
        return relation.following
    return False


def relation_columns(viewer: str, owner: str) -> str:
    """The SELECT-list columns of how `viewer` stands towards `owner` (SQL expressions such as
    a parameter "$2" and a column "u.id"), so a statement that reads the owner's row can read
    the relation with it; `relation_from` turns them into a Relation. Each is an indexed lookup
    (primary keys of follows, blocks and mutes); with a NULL viewer all come back empty."""
    return (
        f"(SELECT status FROM follows WHERE follower_id = {viewer} AND followee_id = {owner})"
        " AS rel_out_status,"
        f" (SELECT status FROM follows WHERE follower_id = {owner} AND followee_id = {viewer})"
        " AS rel_in_status,"
        f" EXISTS (SELECT 1 FROM blocks WHERE blocker_id = {viewer} AND blocked_id = {owner})"
        " AS rel_blocking,"
        f" EXISTS (SELECT 1 FROM blocks WHERE blocker_id = {owner} AND blocked_id = {viewer})"
        " AS rel_blocked_by,"
        f" EXISTS (SELECT 1 FROM mutes WHERE muter_id = {viewer} AND muted_id = {owner})"
        " AS rel_muting")


def relation_from(row: Any, viewer_id: int | None, owner_id: int) -> Relation:
    """The Relation of `viewer_id` (None = anonymous) to `owner_id` from a row that selected
    `relation_columns` (the row is not read for an anonymous viewer or oneself)."""
    if viewer_id is None:
        return Relation()
    if viewer_id == owner_id:
        return Relation(is_self=True)
    return Relation(following=row["rel_out_status"] == "accepted",
                    requested=row["rel_out_status"] == "pending",
                    followed_by=row["rel_in_status"] == "accepted",
                    blocking=bool(row["rel_blocking"]), blocked_by=bool(row["rel_blocked_by"]),
                    muting=bool(row["rel_muting"]))


_RELATION_SQL = "SELECT " + relation_columns("$1", "$2")


async def relation(db: Database, viewer_id: int | None, owner_id: int) -> Relation:
    """How `viewer_id` stands towards `owner_id` (one query; none for anonymous or self)."""
    if viewer_id is None or viewer_id == owner_id:
        return relation_from(None, viewer_id, owner_id)
    row = await db.pool.fetchrow(_RELATION_SQL, viewer_id, owner_id)
    return relation_from(row, viewer_id, owner_id)


async def may_view_profile(db: Database, viewer_id: int | None, owner_id: int, *,
                           viewer_role: str | None = None) -> bool:
    """May `viewer_id` (None = anonymous) see `owner_id`'s profile and its lists? One query.

    False also when the owner does not exist.
    """
    if viewer_id is not None and viewer_id == owner_id:
        return True
    if viewer_role in STAFF_ROLES:
        return bool(await db.pool.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
                                           owner_id))
    row = await db.pool.fetchrow(
        "SELECT u.visibility,"
        " EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = $2)"
        "         OR (b.blocker_id = $2 AND b.blocked_id = $1)) AS blocked,"
        " EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = $2"
        "         AND f.status = 'accepted') AS following "
        "FROM users u WHERE u.id = $2", viewer_id, owner_id)
    if row is None:
        return False
    rel = Relation(following=bool(row["following"]), blocking=bool(row["blocked"]))
    return profile_visible(row["visibility"], rel, viewer_role=viewer_role)


async def blocked_either_way(db: Database, a: int, b: int) -> bool:
    """True when `a` blocked `b` or `b` blocked `a` (one query)."""
    if a == b:
        return False
    return bool(await db.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)"
        " OR (blocker_id = $2 AND blocked_id = $1))", a, b))


async def blocked_ids(db: Database, user_id: int) -> set[int]:
    """Users `user_id` blocked or was blocked by: mutually invisible to `user_id` (one query)."""
    rows = await db.pool.fetch(
        "SELECT blocked_id AS id FROM blocks WHERE blocker_id = $1 "
        "UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1", user_id)
    return {int(r["id"]) for r in rows}


def hidden_users_sql(viewer: str) -> str:
    """A sub-select of the users `viewer` (an SQL expression such as "$2") must not be shown:
    blocked either way ∪ muted by them — `hidden_user_ids` as SQL, so a statement that lists
    what a viewer sees can leave them out itself (`x NOT IN (...)`) instead of first fetching
    the set in a round trip of its own, or read it with other things (`ARRAY(...)`). Each
    branch is an index lookup."""
    return (f"SELECT blocked_id AS id FROM blocks WHERE blocker_id = {viewer} "
            f"UNION SELECT blocker_id FROM blocks WHERE blocked_id = {viewer} "
            f"UNION SELECT muted_id FROM mutes WHERE muter_id = {viewer}")


_HIDDEN_SQL = hidden_users_sql("$1")


async def hidden_user_ids(db: Database, user_id: int) -> set[int]:
    """Users whose activity `user_id` must not be shown: blocked either way ∪ muted by them.

    One query; feed, notification and room code filter authors by this set (the hub's
    `Viewer.hidden_authors`).
    """
    rows = await db.pool.fetch(_HIDDEN_SQL, user_id)
    return {int(r["id"]) for r in rows}


async def follower_ids(db: Database, user_id: int) -> list[int]:
    """Accepted followers of `user_id` (for fan-out of feeds and notifications; one query)."""
    rows = await db.pool.fetch(
        "SELECT follower_id FROM follows WHERE followee_id = $1 AND status = 'accepted'", user_id)
    return [int(r["follower_id"]) for r in rows]
