"""Sync identities linked from the reader's settings, documents linked to books, and every PUT
on a linked document moving the reader's reading state through `advance()`."""

from __future__ import annotations

import httpx

from tests.accounts_helpers import register
from tests.reading_helpers import mine, new_book
from tests.test_kosync_protocol import create, device, md5, update

ME = "/api/v1/me/kosync"


async def _state(http: httpx.AsyncClient, user, book_id: int) -> dict:  # type: ignore[no-untyped-def]
    r = await http.get(mine(book_id), headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_progress_before_linking_is_applied_on_link(http: httpx.AsyncClient,
                                                          unique: str) -> None:
    """A device syncs before the reader links its identity: linking keeps that progress, the
    document waits as pending until the reader confirms its book, and then the reading state
    has the device's percentage as furthest progression and its xpointer as locator."""
    await create(http, f"ea{unique}", "kopw")
    h = device(f"ea{unique}", "kopw")
    assert (await http.put("/kosync/syncs/progress", headers=h,
                           json=update("hashA", 0.4))).status_code == 200
    reader = await register(http, unique, prefix="ka")
    book = await new_book(http, unique)
    r = await http.post(f"{ME}/link", json={"username": f"ea{unique}", "password": "wrong"},
                        headers=reader.headers)
    assert r.status_code == 422 and r.json()["code"] == "kosync_unauthorized"
    r = await http.post(f"{ME}/link", json={"username": f"ea{unique}", "password": "kopw"},
                        headers=reader.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["username"] for i in body["identities"]] == [f"ea{unique}"]
    assert "key" not in str(body) and md5("kopw") not in str(body)
    assert body["documents"][0] | {} == {"document": "hashA", "book_id": None, "title": None,
                                        "pending": True, "percentage": 0.4,
                                        "device": "Kobo Libra 2",
                                        "timestamp": body["documents"][0]["timestamp"]}
    r = await http.put(f"{ME}/documents/hashA", json={"book_id": book["id"]},
                       headers=reader.headers)
    assert r.status_code == 200, r.text
    assert r.json()["documents"][0]["pending"] is False
    state = await _state(http, reader, book["id"])
    assert state["furthest"] == 0.4 and state["status"] == "reading"
    assert state["locator"] == "/body/DocFragment[20]/body/p[22]/img.0"


async def test_every_put_moves_the_reading_state(http: httpx.AsyncClient, unique: str) -> None:
    """After linking, each PUT moves the reading state; a PUT going back is what KOReader gets
    back (last write wins) while the furthest progression keeps its highest value."""
    reader = await register(http, unique, prefix="kb")
    book = await new_book(http, unique)
    r = await http.post(f"{ME}/identities", json={"username": f"eb{unique}", "password": "p"},
                        headers=reader.headers)
    assert r.status_code == 201, r.text
    r = await http.post(f"{ME}/identities", json={"username": f"eb{unique}", "password": "q"},
                        headers=reader.headers)
    assert r.status_code == 409 and r.json()["code"] == "kosync_username_taken"
    await http.put(f"{ME}/documents/hashB", json={"book_id": book["id"]}, headers=reader.headers)
    h = device(f"eb{unique}", "p")
    assert (await http.get("/kosync/users/auth", headers=h)).status_code == 200
    for pct in (0.1, 0.6, 0.2):
        r = await http.put("/kosync/syncs/progress", headers=h,
                           json=update("hashB", pct, progress=f"page {int(pct * 300)}"))
        assert r.status_code == 200
    state = await _state(http, reader, book["id"])
    assert state["furthest"] == 0.6 and state["position"] == 0.2
    assert state["locator"] == "page 60"
    got = (await http.get("/kosync/syncs/progress/hashB", headers=h)).json()
    assert got["percentage"] == 0.2
    log = (await http.get(mine(book["id"], "/log"), headers=reader.headers)).json()
    assert {e["source"] for e in log["items"]} == {"sync"}


async def test_first_sync_from_the_device_waits_for_confirmation(http: httpx.AsyncClient,
                                                                 unique: str) -> None:
    """An unknown document synced by a linked identity moves nothing until the reader confirms
    a book for it; then its latest progress is applied."""
    reader = await register(http, unique, prefix="kc")
    book = await new_book(http, unique)
    await http.post(f"{ME}/identities", json={"username": f"ec{unique}", "password": "p"},
                    headers=reader.headers)
    h = device(f"ec{unique}", "p")
    await http.put("/kosync/syncs/progress", headers=h, json=update("hashC", 0.3))
    await http.put("/kosync/syncs/progress", headers=h, json=update("hashC", 0.35))
    body = (await http.get(ME, headers=reader.headers)).json()
    assert [(d["document"], d["pending"], d["percentage"]) for d in body["documents"]] == [
        ("hashC", True, 0.35)]
    assert (await http.get(mine(book["id"]), headers=reader.headers)).status_code == 404
    await http.put(f"{ME}/documents/hashC", json={"book_id": book["id"]}, headers=reader.headers)
    assert (await _state(http, reader, book["id"]))["furthest"] == 0.35


async def test_identity_of_another_reader_and_bad_ids(http: httpx.AsyncClient,
                                                      unique: str) -> None:
    """An identity linked to someone else cannot be linked again (409); unknown identities,
    documents, books and out-of-range ids answer 404/422 problem details."""
    one = await register(http, unique, prefix="kd")
    two = await register(http, unique, prefix="ke")
    await http.post(f"{ME}/identities", json={"username": f"ed{unique}", "password": "p"},
                    headers=one.headers)
    r = await http.post(f"{ME}/link", json={"username": f"ed{unique}", "password": "p"},
                        headers=two.headers)
    assert r.status_code == 409 and r.json()["code"] == "kosync_linked_elsewhere"
    assert (await http.delete(f"{ME}/identities/{2**63}", headers=two.headers)).status_code == 404
    mine_ids = (await http.get(ME, headers=one.headers)).json()["identities"]
    assert (await http.delete(f"{ME}/identities/{mine_ids[0]['id']}",
                              headers=two.headers)).status_code == 404
    r = await http.put(f"{ME}/documents/x", json={"book_id": 2**62}, headers=two.headers)
    assert r.status_code == 404 and r.json()["code"] == "book_not_found"
    r = await http.put(f"{ME}/documents/x", json={"book_id": 0}, headers=two.headers)
    assert r.status_code in (400, 422)
    assert (await http.delete(f"{ME}/documents/nope", headers=two.headers)).status_code == 404
    assert (await http.delete(f"{ME}/identities/{mine_ids[0]['id']}",
                              headers=one.headers)).status_code == 204
    assert (await http.get("/kosync/users/auth",
                           headers=device(f"ed{unique}", "p"))).status_code == 401
