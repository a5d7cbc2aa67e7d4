"""Clubs and membership over a real server: visibility, join policies, requests, invitation
links, roles, ownership transfer, bans, blocks and the directory."""

from __future__ import annotations

import asyncio

import httpx

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club
from tests.test_sessions_helpers import db_exec, make_book


async def test_create_and_slug_and_bad_input(http: httpx.AsyncClient, unique: str) -> None:
    """A club is created with its owner as first member; a taken slug is 409, a bad one 422,
    an out-of-range id 404 — all problem details."""
    owner = await register(http, unique, prefix="own")
    club = await make_club(http, owner, f"c-{unique}", description="we read slowly",
                           member_cap=3, rules="Be kind", cover_url="https://x.test/c.png")
    assert club["my_role"] == "owner" and club["member_count"] == 1
    assert club["room"] == f"club:{club['id']}" and club["rules"] == "Be kind"
    r = await http.post("/api/v1/clubs", json={"name": "x", "slug": f"c-{unique}"},
                        headers=owner.headers)
    assert r.status_code == 409 and r.json()["code"] == "slug_taken"
    r = await http.post("/api/v1/clubs", json={"name": "x", "slug": "Bad Slug!"},
                        headers=owner.headers)
    assert r.status_code in (400, 422), r.text
    r = await http.post("/api/v1/clubs", json={"name": "x", "slug": f"d-{unique}",
                                               "book_id": 0}, headers=owner.headers)
    assert r.status_code in (400, 422), r.text
    assert (await http.get(f"/api/v1/clubs/{2**63}")).status_code == 404
    got = await http.get(f"/api/v1/clubs/by-slug/c-{unique}")
    assert got.status_code == 200 and got.json()["id"] == club["id"]


async def test_policies_open_approval_invitation(http: httpx.AsyncClient, unique: str) -> None:
    """Open clubs join at once (up to the cap), approval clubs file a request the organisers
    approve or decline (the requester is notified), invitation clubs need a valid link."""
    owner, a, b, c = [await register(http, unique, prefix=p) for p in ("ow", "aa", "bb", "cc")]
    opened = await make_club(http, owner, f"o-{unique}", member_cap=2)
    assert (await join(http, opened["id"], a)).json()["status"] == "joined"
    r = await join(http, opened["id"], b)
    assert r.status_code == 409 and r.json()["code"] == "club_full"

    appr = await make_club(http, owner, f"a-{unique}", join_policy="approval")
    r = await join(http, appr["id"], b, message="please")
    assert r.json()["status"] == "requested"
    req = (await http.get(f"/api/v1/clubs/{appr['id']}/requests",
                          headers=owner.headers)).json()["items"]
    assert [x["user_id"] for x in req] == [b.id] and req[0]["message"] == "please"
    r = await http.get(f"/api/v1/clubs/{appr['id']}/requests", headers=b.headers)
    assert r.status_code == 403
    r = await http.post(f"/api/v1/clubs/{appr['id']}/requests/{req[0]['id']}/approve",
                        headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "joined"
    assert (await http.get(f"/api/v1/clubs/{appr['id']}", headers=b.headers)
            ).json()["my_role"] == "member"
    notes = (await http.get("/api/v1/notifications", headers=b.headers)).json()
    assert any(n["type"] == "club_request_approved" for n in notes["items"]), notes
    owner_notes = (await http.get("/api/v1/notifications", headers=owner.headers)).json()
    assert any(n["type"] == "club_join_request" for n in owner_notes["items"])
    r = await join(http, appr["id"], c)
    rid = r.json()["request_id"]
    r = await http.post(f"/api/v1/clubs/{appr['id']}/requests/{rid}/decline",
                        headers=owner.headers)
    assert r.status_code == 200
    assert (await http.get(f"/api/v1/clubs/{appr['id']}", headers=c.headers)
            ).json()["my_role"] is None

    inv = await make_club(http, owner, f"i-{unique}", join_policy="invitation")
    r = await join(http, inv["id"], a)
    assert r.status_code == 403 and r.json()["code"] == "invitation_required"
    link = (await http.post(f"/api/v1/clubs/{inv['id']}/invites", json={"max_uses": 1},
                            headers=owner.headers)).json()
    assert (await join(http, inv["id"], a, invite=link["token"])).json()["status"] == "joined"
    r = await join(http, inv["id"], b, invite=link["token"])  # used up
    assert r.status_code == 410 and r.json()["code"] == "invite_invalid"


async def test_invite_link_last_use_taken_once(http: httpx.AsyncClient, unique: str) -> None:
    """Two joiners racing for an invitation link's last use: exactly one gets in."""
    owner, a, b = [await register(http, unique, prefix=p) for p in ("ow", "ra", "rb")]
    club = await make_club(http, owner, f"r-{unique}", join_policy="invitation")
    link = (await http.post(f"/api/v1/clubs/{club['id']}/invites", json={"max_uses": 1},
                            headers=owner.headers)).json()
    got = await asyncio.gather(join(http, club["id"], a, invite=link["token"]),
                               join(http, club["id"], b, invite=link["token"]))
    assert sorted(r.status_code for r in got) == [200, 410]
    members = (await http.get(f"/api/v1/clubs/{club['id']}/members",
                              headers=owner.headers)).json()["items"]
    assert len(members) == 2


async def test_secret_clubs_and_bans(http: httpx.AsyncClient, unique: str) -> None:
    """A secret club is 404 to outsiders and missing from the directory; a banned member is
    removed, cannot rejoin and (secret club) cannot see it any more."""
    owner, m, x = [await register(http, unique, prefix=p) for p in ("ow", "mm", "xx")]
    secret = await make_club(http, owner, f"s-{unique}", visibility="secret",
                             name=f"Hidden {unique}")
    assert (await http.get(f"/api/v1/clubs/{secret['id']}", headers=x.headers)
            ).status_code == 404
    assert (await join(http, secret["id"], x)).status_code == 404
    page = (await http.get("/api/v1/clubs", params={"q": f"Hidden {unique}"})).json()
    assert page["items"] == []
    link = (await http.post(f"/api/v1/clubs/{secret['id']}/invites", json={},
                            headers=owner.headers)).json()
    assert (await join(http, secret["id"], m, invite=link["token"])).status_code == 200
    assert (await http.get(f"/api/v1/clubs/{secret['id']}", headers=m.headers)
            ).status_code == 200
    r = await http.post(f"/api/v1/clubs/{secret['id']}/bans", json={"user_id": m.id},
                        headers=owner.headers)
    assert r.status_code == 200
    assert (await http.get(f"/api/v1/clubs/{secret['id']}", headers=m.headers)
            ).status_code == 404
    assert (await join(http, secret["id"], m, invite=link["token"])).status_code == 404

    public = await make_club(http, owner, f"p-{unique}")
    await join(http, public["id"], x)
    await http.post(f"/api/v1/clubs/{public['id']}/bans", json={"user_id": x.id},
                    headers=owner.headers)
    r = await join(http, public["id"], x)
    assert r.status_code == 403 and r.json()["code"] == "banned"


async def test_roles_transfer_and_leave(http: httpx.AsyncClient, unique: str) -> None:
    """The owner makes a moderator, who may handle requests but not change visibility; the
    owner cannot leave before handing the club over; after a transfer the new owner rules."""
    owner, mod, mem = [await register(http, unique, prefix=p) for p in ("ow", "md", "me")]
    club = await make_club(http, owner, f"t-{unique}")
    cid = club["id"]
    for u in (mod, mem):
        await join(http, cid, u)
    r = await http.put(f"/api/v1/clubs/{cid}/members/{mod.id}/role", json={"role": "moderator"},
                       headers=owner.headers)
    assert r.status_code == 200
    r = await http.put(f"/api/v1/clubs/{cid}/members/{mem.id}/role", json={"role": "moderator"},
                       headers=mod.headers)
    assert r.status_code == 403
    r = await http.patch(f"/api/v1/clubs/{cid}", json={"visibility": "secret"},
                         headers=mod.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_owner"
    r = await http.patch(f"/api/v1/clubs/{cid}", json={"rules": "No spoilers"},
                         headers=mod.headers)
    assert r.status_code == 200 and r.json()["rules"] == "No spoilers"
    r = await http.post(f"/api/v1/clubs/{cid}/leave", headers=owner.headers)
    assert r.status_code == 409 and r.json()["code"] == "owner_leaving"
    r = await http.post(f"/api/v1/clubs/{cid}/transfer", json={"user_id": mem.id},
                        headers=owner.headers)
    assert r.status_code == 200
    got = (await http.get(f"/api/v1/clubs/{cid}", headers=mem.headers)).json()
    assert got["my_role"] == "owner" and got["owner_id"] == mem.id
    assert (await http.post(f"/api/v1/clubs/{cid}/leave", headers=owner.headers)
            ).status_code == 200


async def test_blocks_and_directory(http: httpx.AsyncClient, unique: str,
                                    engines: object) -> None:
    """The directory finds public clubs by words of their description and by book, most
    active first; private clubs stay unlisted; a user who blocked the owner cannot join, and
    members blocked either way leave each other's member lists."""
    owner, a, b = [await register(http, unique, prefix=p) for p in ("ow", "ba", "bb")]
    book = await make_book(engines.database_url, f"Dir {unique}")  # type: ignore[attr-defined]
    word = f"zebra{unique}"
    first = await make_club(http, owner, f"d1-{unique}", description=f"the {word} club",
                            book_id=book)
    second = await make_club(http, owner, f"d2-{unique}", description=f"{word} again")
    await make_club(http, owner, f"d3-{unique}", description=word, visibility="private")
    await join(http, first["id"], a)  # activity: the first club is now the most active
    page = (await http.get("/api/v1/clubs", params={"q": word})).json()
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"]]
    page = (await http.get("/api/v1/clubs", params={"q": word, "limit": 1})).json()
    nxt = (await http.get("/api/v1/clubs", params={"q": word, "limit": 1,
                                                   "cursor": page["next_cursor"]})).json()
    assert [c["id"] for c in nxt["items"]] == [second["id"]]
    by_book = (await http.get("/api/v1/clubs", params={"book_id": book})).json()
    assert [c["id"] for c in by_book["items"]] == [first["id"]]
    r = await http.get("/api/v1/clubs", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"

    await http.post(f"/api/v1/users/{owner.handle}/block", headers=b.headers)
    r = await join(http, second["id"], b)
    assert r.status_code == 403 and r.json()["code"] == "blocked"
    await http.post(f"/api/v1/users/{a.handle}/block", headers=owner.headers)
    ids = [m["user_id"] for m in (await http.get(f"/api/v1/clubs/{first['id']}/members",
                                                 headers=owner.headers)).json()["items"]]
    assert ids == [owner.id]


async def test_feed_activities_only_for_public_clubs(http: httpx.AsyncClient, unique: str,
                                                     engines: object) -> None:
    """Joining a public club and a public club starting a book are feed activities; joining a
    private club leaves no trace in anyone's feed."""
    owner, a = [await register(http, unique, prefix=p) for p in ("ow", "fa")]
    url = engines.database_url  # type: ignore[attr-defined]
    book = await make_book(url, f"Feed {unique}")
    public = await make_club(http, owner, f"fp-{unique}")
    private = await make_club(http, owner, f"fq-{unique}", visibility="private")
    for club in (public, private):
        await join(http, club["id"], a)
    r = await http.patch(f"/api/v1/clubs/{public['id']}", json={"book_id": book},
                         headers=owner.headers)
    assert r.status_code == 200 and r.json()["book_id"] == book
    rows = await db_exec(url, "SELECT actor_id, verb, object_id FROM activities WHERE"
                         " object_kind = 'club' AND object_id = ANY($1::text[]) ORDER BY id",
                         [str(public["id"]), str(private["id"])])
    assert [(r["actor_id"], r["verb"], r["object_id"]) for r in rows] == [
        (a.id, "joined_club", str(public["id"])),
        (owner.id, "club_started_book", str(public["id"]))]


async def test_past_books_keep_dates_and_the_members_rating(http: httpx.AsyncClient,
                                                            unique: str,
                                                            engines: object) -> None:
    """Switching the club's book keeps the previous one as a past book with its dates and the
    members' average rating (an outsider's rating does not count); the public club's feed
    says it finished one book and started the next."""
    owner, a, stranger = [await register(http, unique, prefix=p) for p in ("ow", "ra", "st")]
    url = engines.database_url  # type: ignore[attr-defined]
    first, second = [await make_book(url, f"{t} {unique}") for t in ("First", "Second")]
    club = await make_club(http, owner, f"pb-{unique}", book_id=first)
    await join(http, club["id"], a)
    for user, stars in ((owner, 4.0), (a, 3.0), (stranger, 1.0)):
        await http.post(f"/api/v1/me/books/{first}/progress", json={"progression": 1.0},
                        headers=user.headers)
        r = await http.put(f"/api/v1/me/books/{first}/review", json={"rating": stars},
                           headers=user.headers)
        assert r.status_code in (200, 201), r.text
    r = await http.patch(f"/api/v1/clubs/{club['id']}", json={"book_id": second},
                         headers=owner.headers)
    assert r.status_code == 200
    shelf = (await http.get(f"/api/v1/clubs/{club['id']}/books")).json()
    assert [(b["book_id"], b["current"]) for b in shelf] == [(second, True), (first, False)]
    past = shelf[1]
    assert past["finished_at"] is not None and past["started_at"] <= past["finished_at"]
    assert (past["average_rating"], past["ratings"]) == (3.5, 2)
    rows = await db_exec(url, "SELECT verb, payload->>'book_id' AS book FROM activities WHERE"
                         " object_kind = 'club' AND object_id = $1 AND verb <> 'joined_club'"
                         " ORDER BY id",
                         str(club["id"]))
    assert [(r["verb"], r["book"]) for r in rows] == [("club_finished_book", str(first)),
                                                       ("club_started_book", str(second))]


async def test_direct_invitation_carries_a_single_use_link(http: httpx.AsyncClient,
                                                           unique: str) -> None:
    """An organiser invites a user to an invitation-only secret club: the user's `club_invited`
    notification carries a link that lets them (and only once) join; a user who blocked the
    organiser is not invited."""
    owner, guest, blocker = [await register(http, unique, prefix=p) for p in ("ow", "gu", "bk")]
    club = await make_club(http, owner, f"dv-{unique}", visibility="secret",
                           join_policy="invitation")
    await http.post(f"/api/v1/users/{owner.handle}/block", headers=blocker.headers)
    r = await http.post(f"/api/v1/clubs/{club['id']}/invitations",
                        json={"user_ids": [guest.id, blocker.id]}, headers=owner.headers)
    assert r.status_code == 200 and r.json() == {"invited": 1}
    notes = (await http.get("/api/v1/notifications", headers=guest.headers)).json()["items"]
    (note,) = [n for n in notes if n["type"] == "club_invited"]
    token = note["payload"]["invite"]
    assert (await join(http, club["id"], guest, invite=token)).json()["status"] == "joined"
    await http.post(f"/api/v1/clubs/{club['id']}/leave", headers=guest.headers)
    assert (await join(http, club["id"], guest, invite=token)).status_code == 410
