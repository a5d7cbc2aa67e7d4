"""Profiles and the social graph over REST: visibility, follows and requests, blocks, mutes,
cursor-paged lists, and the domain rules later features ask."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from domain.accounts.service import create_admin
from domain.db import Database
from domain.social import rules
from tests.accounts_helpers import PASSWORD, UserSession, login, register
from tests.fixture_helpers import connected_db


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


def users(handle: str) -> str:
    return f"/api/v1/users/{handle}"


async def set_visibility(http: httpx.AsyncClient, user: UserSession, visibility: str) -> None:
    r = await http.patch("/api/v1/me", json={"visibility": visibility}, headers=user.headers)
    assert r.status_code == 200 and r.json()["visibility"] == visibility, r.text


async def follow(http: httpx.AsyncClient, who: UserSession, whom: UserSession) -> str:
    r = await http.post(users(whom.handle) + "/follow", headers=who.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


async def admin_session(http: httpx.AsyncClient, db: Database, unique: str) -> UserSession:
    handle, email = f"adm{unique}", f"adm{unique}@example.test"
    user_id = await create_admin(db, email=email, handle=handle, password=PASSWORD)
    session = UserSession(id=user_id, handle=handle, email=email, password=PASSWORD,
                          access_token="", refresh_token="")
    session.update(await login(http, session))
    return session


async def test_public_profile_fields_counts_and_relation(http: httpx.AsyncClient,
                                                         unique: str) -> None:
    """Anyone sees a public profile with bio, avatar, genres, join date and follow counts; a
    signed-in viewer also sees how they relate to it."""
    alice = await register(http, unique, prefix="a", display_name="Alice")
    bob = await register(http, unique, prefix="b")
    r = await http.patch("/api/v1/me", headers=alice.headers, json={
        "bio": " Reads slowly. ", "avatar_url": "https://img.example/a.png",
        "favourite_genres": ["Sci-Fi", "sci-fi", " Mystery "]})
    assert r.status_code == 200, r.text
    assert await follow(http, bob, alice) == "following"
    anon = (await http.get(users(alice.handle.upper()))).json()
    assert anon["handle"] == alice.handle and anon["display_name"] == "Alice"
    assert anon["bio"] == "Reads slowly." and anon["avatar_url"] == "https://img.example/a.png"
    assert anon["favourite_genres"] == ["Sci-Fi", "Mystery"]
    assert anon["followers"] == 1 and anon["following"] == 0 and anon["joined_at"]
    assert anon["relation"] is None and "email" not in anon
    seen = (await http.get(users(alice.handle), headers=bob.headers)).json()
    assert seen["relation"]["following"] is True and seen["relation"]["followed_by"] is False
    assert (await http.get("/api/v1/me", headers=bob.headers)).json()["following"] == 1
    # unfollowing is idempotent
    for _ in range(2):
        assert (await http.delete(users(alice.handle) + "/follow",
                                  headers=bob.headers)).status_code == 204
    assert (await http.get(users(alice.handle))).json()["followers"] == 0


async def test_profile_relation_flags_for_every_kind_of_viewer(http: httpx.AsyncClient,
                                                              db: Database, unique: str) -> None:
    """One profile seen by an anonymous caller, its owner, a mutual follower, a muter, a blocked
    reader and staff (who asked to follow a followers-only profile, or blocked the owner): the
    same fields and counts for all who may see it, and each viewer's own relation flags."""
    owner = await register(http, unique, prefix="o", display_name="Owner")
    fan = await register(http, unique, prefix="f")
    muter = await register(http, unique, prefix="m")
    shut = await register(http, unique, prefix="b")
    admin = await admin_session(http, db, unique)
    await follow(http, fan, owner)
    await follow(http, owner, fan)
    assert (await http.post(users(owner.handle) + "/mute", headers=muter.headers)).status_code \
        == 204
    assert (await http.post(users(shut.handle) + "/block", headers=owner.headers)).status_code \
        == 204
    assert (await http.post(users(owner.handle) + "/block", headers=admin.headers)).status_code \
        == 204

    def flags(**on: bool) -> dict[str, bool]:
        return {k: on.get(k, False)
                for k in ("following", "requested", "followed_by", "blocking", "muting")}

    seen = {}
    for name, viewer in (("anon", None), ("self", owner), ("fan", fan), ("muter", muter),
                         ("admin", admin)):
        r = await http.get(users("@" + owner.handle.upper()),
                           headers=viewer.headers if viewer else {})
        assert r.status_code == 200, (name, r.text)
        seen[name] = r.json()
    assert seen["anon"]["relation"] is None and seen["self"]["relation"] is None
    assert seen["fan"]["relation"] == flags(following=True, followed_by=True)
    assert seen["muter"]["relation"] == flags(muting=True)
    assert seen["admin"]["relation"] == flags(blocking=True)  # staff see past a block
    fields = {k: v for k, v in seen["anon"].items() if k != "relation"}
    assert fields["handle"] == owner.handle and fields["display_name"] == "Owner"
    assert fields["followers"] == 1 and fields["following"] == 1
    for body in seen.values():
        assert {k: v for k, v in body.items() if k != "relation"} == fields
    for viewer, target in ((shut, owner), (owner, shut)):
        r = await http.get(users(target.handle), headers=viewer.headers)
        assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    await set_visibility(http, fan, "followers")
    assert await follow(http, admin, fan) == "requested"
    staff_view = (await http.get(users(fan.handle), headers=admin.headers)).json()
    assert staff_view["relation"] == flags(requested=True)
    r = await http.get(users(fan.handle), headers=muter.headers)
    assert r.status_code == 403 and r.json()["code"] == "profile_followers_only"
    assert (await http.get(users(fan.handle), headers=owner.headers)).json()["relation"] == \
        flags(following=True, followed_by=True)


async def test_profile_edit_validation_stores_nothing(http: httpx.AsyncClient,
                                                      unique: str) -> None:
    """An invalid field in a profile edit is refused naming the field, and no field changes."""
    user = await register(http, unique)
    cases: list[tuple[dict[str, object], str]] = [
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"bio": "x" * 501}, "bio"),
        ({"favourite_genres": ["x" * 41]}, "favourite_genres"),
        ({"visibility": "friends"}, "visibility"),
        ({"display_name": ""}, "display_name")]
    for patch, field in cases:
        r = await http.patch("/api/v1/me", headers=user.headers, json={"bio": "changed", **patch})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    assert (await http.get("/api/v1/me", headers=user.headers)).json()["bio"] == ""
    r = await http.patch("/api/v1/me", headers=user.headers, json={"email": "x@y.zz"})
    assert r.status_code == 400  # unknown fields are refused, not ignored


async def test_unknown_handle_is_404(http: httpx.AsyncClient, unique: str) -> None:
    """Profiles and lists of a handle nobody has answer 404 problem details."""
    for path in ("", "/followers", "/following"):
        r = await http.get(users(f"nobody{unique}") + path)
        assert r.status_code == 404 and r.json()["code"] == "user_not_found"


async def test_private_profile_hidden_from_strangers(http: httpx.AsyncClient, db: Database,
                                                    unique: str) -> None:
    """A private profile is 404 to strangers and anonymous callers (lists too), but its owner
    and staff still see it."""
    owner = await register(http, unique, prefix="p")
    stranger = await register(http, unique, prefix="s")
    await set_visibility(http, owner, "private")
    for headers in ({}, stranger.headers):
        for path in ("", "/followers", "/following"):
            r = await http.get(users(owner.handle) + path, headers=headers)
            assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    r = await http.post(users(owner.handle) + "/follow", headers=stranger.headers)
    assert r.status_code == 404
    assert (await http.get(users(owner.handle), headers=owner.headers)).status_code == 200
    admin = await admin_session(http, db, unique)
    assert (await http.get(users(owner.handle), headers=admin.headers)).status_code == 200
    assert not await rules.may_view_profile(db, stranger.id, owner.id)
    assert await rules.may_view_profile(db, admin.id, owner.id, viewer_role="admin")


async def test_followers_only_profile_visible_to_approved_followers(http: httpx.AsyncClient,
                                                                    unique: str) -> None:
    """A followers-only profile answers 403 to non-followers; following it is a request the
    owner approves, after which the follower sees it and others still do not."""
    owner = await register(http, unique, prefix="o")
    fan = await register(http, unique, prefix="f")
    other = await register(http, unique, prefix="x")
    await set_visibility(http, owner, "followers")
    r = await http.get(users(owner.handle), headers=fan.headers)
    assert r.status_code == 403 and r.json()["code"] == "profile_followers_only"
    assert (await http.get(users(owner.handle) + "/followers")).status_code == 403
    assert await follow(http, fan, owner) == "requested"
    assert await follow(http, fan, owner) == "requested"
    assert (await http.get(users(owner.handle), headers=fan.headers)).status_code == 403
    pending = (await http.get("/api/v1/me/follow-requests", headers=owner.headers)).json()
    assert [u["handle"] for u in pending["items"]] == [fan.handle]
    assert (await http.get("/api/v1/me", headers=owner.headers)).json()["pending_requests"] == 1
    r = await http.post(f"/api/v1/me/follow-requests/{fan.handle}", headers=owner.headers)
    assert r.status_code == 200 and r.json()["state"] == "following"
    seen = await http.get(users(owner.handle), headers=fan.headers)
    assert seen.status_code == 200 and seen.json()["followers"] == 1
    listed = (await http.get(users(owner.handle) + "/followers", headers=fan.headers)).json()
    assert [u["handle"] for u in listed["items"]] == [fan.handle]
    assert (await http.get(users(owner.handle), headers=other.headers)).status_code == 403
    # declining: a second request is removed by the owner
    assert await follow(http, other, owner) == "requested"
    r = await http.delete(f"/api/v1/me/follow-requests/{other.handle}", headers=owner.headers)
    assert r.status_code == 204
    r = await http.post(f"/api/v1/me/follow-requests/{other.handle}", headers=owner.headers)
    assert r.status_code == 404 and r.json()["code"] == "request_not_found"
    # the owner can remove an approved follower, who then loses access
    r = await http.delete(f"/api/v1/me/followers/{fan.handle}", headers=owner.headers)
    assert r.status_code == 204
    assert (await http.get(users(owner.handle), headers=fan.headers)).status_code == 403


async def test_opening_a_profile_accepts_pending_requests(http: httpx.AsyncClient,
                                                          unique: str) -> None:
    """When a followers-only profile becomes public, its pending requests become follows."""
    owner = await register(http, unique, prefix="o")
    fan = await register(http, unique, prefix="f")
    await set_visibility(http, owner, "followers")
    assert await follow(http, fan, owner) == "requested"
    await set_visibility(http, owner, "public")
    assert (await http.get(users(owner.handle))).json()["followers"] == 1


async def test_block_hides_both_ways_and_removes_follows(http: httpx.AsyncClient, db: Database,
                                                         unique: str) -> None:
    """After a block, neither user sees the other's profile or finds them in lists, follows
    between them are gone, and following back is refused; unblocking restores visibility."""
    a = await register(http, unique, prefix="a")
    b = await register(http, unique, prefix="b")
    c = await register(http, unique, prefix="c")
    await follow(http, a, b)
    await follow(http, b, a)
    await follow(http, a, c)
    await follow(http, b, c)
    assert (await http.post(users(b.handle) + "/block", headers=a.headers)).status_code == 204
    assert (await http.post(users(b.handle) + "/block", headers=a.headers)).status_code == 204
    for viewer, target in ((a, b), (b, a)):
        r = await http.get(users(target.handle), headers=viewer.headers)
        assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    for viewer in (a, b):  # each finds only themselves among c's followers, not the other
        listed = (await http.get(users(c.handle) + "/followers", headers=viewer.headers)).json()
        assert [u["handle"] for u in listed["items"]] == [viewer.handle]
    # the rest of the world still sees both in c's followers
    everyone = (await http.get(users(c.handle) + "/followers")).json()
    assert {u["handle"] for u in everyone["items"]} == {a.handle, b.handle}
    assert (await http.get(users(a.handle))).json()["followers"] == 0
    assert (await http.get(users(b.handle))).json()["followers"] == 0
    assert (await http.post(users(a.handle) + "/follow", headers=b.headers)).status_code == 404
    blocks = (await http.get("/api/v1/me/blocks", headers=a.headers)).json()
    assert [u["handle"] for u in blocks["items"]] == [b.handle]
    assert (await http.post(users(b.handle) + "/follow", headers=a.headers)).status_code == 404
    for one, other in ((a, b), (b, a)):
        assert await rules.blocked_either_way(db, one.id, other.id)
        assert await rules.hidden_user_ids(db, one.id) == {other.id}
    assert (await http.delete(users(b.handle) + "/block", headers=a.headers)).status_code == 204
    for one, other in ((a, b), (b, a)):
        assert (await http.get(users(other.handle), headers=one.headers)).status_code == 200
        assert not await rules.blocked_either_way(db, one.id, other.id)
        assert await rules.hidden_user_ids(db, one.id) == set()
    assert (await http.get(users(a.handle))).json()["followers"] == 0  # follows stay removed


async def test_mute_is_silent_and_one_sided(http: httpx.AsyncClient, db: Database,
                                            unique: str) -> None:
    """Muting hides the muted user's activity from the muter only; the muted user still sees
    the muter's profile and can follow them."""
    a = await register(http, unique, prefix="a")
    b = await register(http, unique, prefix="b")
    assert (await http.post(users(b.handle) + "/mute", headers=a.headers)).status_code == 204
    relation = (await http.get(users(a.handle), headers=b.headers)).json()["relation"]
    assert relation["muting"] is False
    assert (await http.get(users(b.handle), headers=a.headers)).json()["relation"]["muting"] is True
    assert await follow(http, b, a) == "following"
    mutes = (await http.get("/api/v1/me/mutes", headers=a.headers)).json()
    assert [u["handle"] for u in mutes["items"]] == [b.handle]
    assert await rules.hidden_user_ids(db, a.id) == {b.id}
    assert await rules.hidden_user_ids(db, b.id) == set()
    assert (await http.delete(users(b.handle) + "/mute", headers=a.headers)).status_code == 204
    assert await rules.hidden_user_ids(db, a.id) == set()


async def test_cannot_follow_block_or_mute_oneself(http: httpx.AsyncClient, unique: str) -> None:
    """Following, blocking or muting yourself is refused with 422 and a specific code."""
    me = await register(http, unique)
    for action in ("follow", "block", "mute"):
        r = await http.post(users(me.handle) + f"/{action}", headers=me.headers)
        assert r.status_code == 422 and r.json()["code"] == f"cannot_{action}_self"
    r = await http.post(users(me.handle) + "/follow")
    assert r.status_code == 401


async def test_followers_cursor_paging_is_stable(http: httpx.AsyncClient, db: Database,
                                                 unique: str) -> None:
    """Followers come newest first in pages; walking the cursor returns each exactly once even
    when someone follows mid-walk, and bad cursors or limits are refused."""
    owner = await register(http, unique, prefix="o")
    fans = [await register(http, unique, prefix=f"f{i}") for i in range(7)]
    for fan in fans:
        await follow(http, fan, owner)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(users(owner.handle) + "/followers", params=params)).json()
        seen += [u["handle"] for u in page["items"]]
        pages += 1
        if pages == 1:
            late = await register(http, unique, prefix="late")
            await follow(http, late, owner)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f.handle for f in reversed(fans)] and pages == 3
    r = await http.get(users(owner.handle) + "/followers", params={"cursor": "%%bogus"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await http.get(users(owner.handle) + "/followers", params={"limit": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    following = (await http.get(users(fans[0].handle) + "/following")).json()
    assert [u["handle"] for u in following["items"]] == [owner.handle]
    assert await rules.follower_ids(db, owner.id) != []


async def test_follow_racing_a_block_never_survives_it(http: httpx.AsyncClient, db: Database,
                                                      unique: str) -> None:
    """However a follow and a block between the same two users interleave, once the block is
    in place no follow between them remains."""
    import asyncio

    a = await register(http, unique, prefix="a")
    b = await register(http, unique, prefix="b")
    for _ in range(8):
        await asyncio.gather(http.post(users(a.handle) + "/follow", headers=b.headers),
                             http.post(users(b.handle) + "/block", headers=a.headers))
        rel = await rules.relation(db, b.id, a.id)
        assert rel.blocked_by and not rel.following
        assert (await http.delete(users(b.handle) + "/block", headers=a.headers)).status_code == 204


def test_profile_visibility_rule_table() -> None:
    """The visibility rule: owners and staff see everything; blocks hide before visibility;
    followers-only needs an accepted follow; private is for nobody else."""
    from domain.social.rules import Relation, profile_visible

    stranger, follower = Relation(), Relation(following=True)
    blocked, me = Relation(following=True, blocked_by=True), Relation(is_self=True)
    table = [
        ("public", stranger, None, True), ("public", blocked, "reader", False),
        ("followers", stranger, "reader", False), ("followers", follower, "reader", True),
        ("followers", blocked, "reader", False), ("private", follower, "reader", False),
        ("private", me, "reader", True), ("private", stranger, "moderator", True),
        ("private", blocked, "admin", True), ("public", Relation(requested=True), None, True),
        ("followers", Relation(requested=True), "reader", False),
    ]
    for visibility, rel, role, expected in table:
        assert profile_visible(visibility, rel, viewer_role=role) is expected, (visibility, rel)
