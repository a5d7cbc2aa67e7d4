"""Data rights: the Goodreads CSV export re-imports into a fresh account with the same shelves,
ratings and dates; the JSON export is complete, secret-free and the owner's only, for a limited
time; account deletion waits for its grace period, can be cancelled, and leaves no row or
Redis key naming the reader."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from domain.jobqueue import enqueue
from domain.reading import boards
from tests.accounts_helpers import register
from tests.hub_support import Client
from tests.interop_helpers import goodreads_csv, isbn_cell, upload, wait_done
from tests.reading_helpers import new_book, progress
from tests.support import ServerProcess
from tests.test_sessions_helpers import db_exec, live_session
from tests.worker_helpers import run_worker, worker_settings


async def _import(http: httpx.AsyncClient, engines: Any, user: Any, body: bytes) -> dict:  # type: ignore[type-arg]
    r = await upload(http, user, body)
    assert r.status_code == 202, r.text
    await run_worker(worker_settings(engines))
    return await wait_done(http, user, r.json()["id"])


async def _library(http: httpx.AsyncClient, user: Any) -> dict[str, Any]:
    items = (await http.get("/api/v1/me/books", params={"limit": 100},
                            headers=user.headers)).json()["items"]
    out = {}
    for s in items:
        reviews = (await http.get(f"/api/v1/books/{s['book']['id']}/reviews",
                                  headers=user.headers)).json()["items"]
        mine = [v["rating"] for v in reviews if v["author"]["id"] == user.id]
        out[s["book"]["id"]] = (s["status"], sorted(s["shelves"]), mine,
                                sorted(r["finished_on"] or "" for r in s["reads"]),
                                s["created_at"][:10])
    return out


async def test_goodreads_export_reimports_the_same(http: httpx.AsyncClient, engines: Any,
                                                   unique: str) -> None:
    """Shelves, whole-star ratings, finish dates and added dates survive export + re-import."""
    one = await register(http, unique, prefix="ex")
    known = await new_book(http, unique)
    rows = [{"Title": known["title"], "Author": "A", "ISBN13": isbn_cell(known["isbn13"]),
             "Exclusive Shelf": "read", "Date Read": "2022/10/05", "Date Added": "2022/09/01",
             "My Rating": "4", "Bookshelves": "favorites", "My Review": "a <spoiler>b</spoiler>"},
            {"Title": f"Only Here {unique}", "Author": "B", "Exclusive Shelf": "to-read",
             "Date Added": "2023/04/04", "Bookshelves": "later, winter"},
            {"Title": f"Reading Now {unique}", "Author": "C",
             "Exclusive Shelf": "currently-reading", "Date Added": "2024/01/01"},
            {"Title": f"Dropped {unique}", "Author": "D", "Exclusive Shelf": "did-not-finish",
             "Date Read": "2024/02/02", "Date Added": "2024/01/10"}]
    await _import(http, engines, one, goodreads_csv(rows))
    r = await http.get("/api/v1/me/export/goodreads.csv", headers=one.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.startswith("Book Id,Title,Author,Author l-f")
    two = await register(http, unique, prefix="ey")
    done = await _import(http, engines, two, r.content)
    assert done["format"] == "goodreads" and done["total"] == 4
    before, after = await _library(http, one), await _library(http, two)
    assert before == after and len(after) == 4
    assert before[known["id"]][0:3] == ("read", ["favorites"], [4.0])


async def test_json_export_is_complete_secret_free_and_owner_only(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """The worker's JSON export has the profile, reading states and sync identities, never a
    hash or key; another reader cannot download it; after it expires it is gone (410)."""
    reader = await register(http, unique, prefix="jx")
    book = await new_book(http, unique)
    await progress(http, reader, book["id"], progression=0.3)
    await http.post("/api/v1/me/kosync/identities",
                    json={"username": f"jx{unique}", "password": "pw"}, headers=reader.headers)
    r = await http.post("/api/v1/me/exports", headers=reader.headers)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    export_id = r.json()["id"]
    r = await http.get(f"/api/v1/me/exports/{export_id}/download", headers=reader.headers)
    assert r.status_code == 409
    await run_worker(worker_settings(engines))
    r = await http.get(f"/api/v1/me/exports/{export_id}/download", headers=reader.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile"]["handle"] == reader.handle and "password_hash" not in body["profile"]
    assert body["tables"]["reading_states"][0]["furthest"] == 0.3
    assert body["tables"]["kosync_identities"][0]["username"] == f"jx{unique}"
    assert "refresh_tokens" in body["tables"]
    text = r.text
    for secret in ("$argon2", "key_hash", "token_hash", "password_hash", "p256dh"):
        assert secret not in text
    stored = await db_exec(engines.database_url, "SELECT token_hash FROM refresh_tokens"
                           " WHERE user_id = $1", reader.id)
    assert all(row["token_hash"] not in text for row in stored)
    other = await register(http, unique, prefix="jy")
    assert (await http.get(f"/api/v1/me/exports/{export_id}/download",
                           headers=other.headers)).status_code == 404
    await db_exec(engines.database_url, "UPDATE data_exports SET expires_at = now() -"
                  " interval '1 second' WHERE id = $1", export_id)
    r = await http.get(f"/api/v1/me/exports/{export_id}/download", headers=reader.headers)
    assert r.status_code == 410 and r.json()["code"] == "export_expired"


async def _sweep(engines: Any) -> None:
    """The worker's every-minute data-rights sweep, now (in-process workers share the cron
    schedule, so tests enqueue it themselves)."""
    redis = Redis.from_url(engines.redis_url)
    try:
        await enqueue(redis, "data_rights_sweep")
    finally:
        await redis.aclose()
    await run_worker(worker_settings(engines))


async def _rows_naming(database_url: str, user_id: int, needles: list[str]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        found = []
        fks = await conn.fetch(
            "SELECT c.conrelid::regclass::text AS t, a.attname AS c FROM pg_constraint c JOIN"
            " pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
            " WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass")
        for fk in fks:
            if await conn.fetchval(f'SELECT count(*) FROM "{fk["t"]}" WHERE "{fk["c"]}" = $1',
                                   user_id):
                found.append(f"{fk['t']}.{fk['c']}")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for t in tables:
            for needle in needles:
                if await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}" x'
                                       " WHERE strpos(lower(x::text), lower($1)) > 0", needle):
                    found.append(f"{t['tablename']} has {needle!r}")
        return found
    finally:
        await conn.close()


async def _keys_naming(redis: Redis, user_id: int, needles: list[str]) -> list[str]:
    found = []
    # key shapes that name a user: user rooms, and per-user keys ending in the id
    pattern = re.compile(rf"(user:{user_id}($|:)|^ra:(feed|feedlock|rl:[^:]+|reminded:\d+):"
                         rf"{user_id}$)")
    member = boards.member(user_id).encode()
    raw_needles = [n.lower().encode() for n in needles]
    async for key in redis.scan_iter(count=500):
        name = key.decode(errors="replace")
        if name.startswith("arq:"):
            continue  # arq's job results: an hour, documented in domain/interop/deletion.py
        if pattern.search(name) and name != f"ra:revoked:user:{user_id}":
            found.append(name)
        kind = await redis.type(key)
        blob = b""
        if kind == b"hash":
            fields = await redis.hgetall(key)
            # presence hashes and leaderboard rank caches are keyed by user id
            if (name.endswith("}:pres") or name.startswith("ra:lb:")) and str(
                    user_id).encode() in fields:
                found.append(f"{name} field")
            blob = b" ".join(k + b"=" + v for k, v in fields.items())
        elif kind == b"zset":
            members = await redis.zrange(key, 0, -1)
            if member in members:
                found.append(f"{name} member")
            blob = b" ".join(members)
        elif kind == b"stream":
            blob = b" ".join(b"".join(f.values()) for _, f in await redis.xrange(key))
        elif kind == b"string":
            blob = await redis.get(key) or b""
        if any(n in blob.lower() for n in raw_needles):
            found.append(f"{name} value")
    return found


async def test_deletion_grace_cancel_and_erasure(http: httpx.AsyncClient, engines: Any,
                                                 server: ServerProcess, unique: str) -> None:
    """A deletion needs the password, can be cancelled, and when due the worker removes the
    reader: their socket closes, their token dies, shared-room messages read "Deleted
    reader", ratings leave the aggregate, and no row or Redis key names them."""
    gone = await register(http, unique, prefix="dl", display_name=f"Gone Reader {unique}")
    host = await register(http, unique, prefix="dh")
    book = await new_book(http, unique)
    await http.post(f"/api/v1/users/{host.handle}/follow", headers=gone.headers)
    await http.post(f"/api/v1/users/{gone.handle}/follow", headers=host.headers)
    await progress(http, gone, book["id"], progression=0.5)
    r = await http.put(f"/api/v1/me/books/{book['id']}/review", headers=gone.headers,
                       json={"rating": 4.5, "body": "fine"})
    assert r.status_code in (200, 201), r.text
    session = await live_session(http, host, book["id"])
    assert (await http.post(f"/api/v1/sessions/{session['id']}/join", json={},
                            headers=gone.headers)).status_code == 200
    r = await http.post(f"/api/v1/sessions/{session['id']}/messages", json={"body": "hi all"},
                        headers=gone.headers)
    assert r.status_code in (200, 201), r.text
    await http.post("/api/v1/me/kosync/identities",
                    json={"username": f"dl{unique}", "password": "pw"}, headers=gone.headers)
    await run_worker(worker_settings(engines))
    live = await Client.login(server.ws_url, gone.id, origin=None)
    await live.ok("subscribe", room=f"user:{gone.id}")

    r = await http.post("/api/v1/me/deletion", json={"password": "wrong"}, headers=gone.headers)
    assert r.status_code == 422 and r.json()["code"] == "wrong_password"
    r = await http.post("/api/v1/me/deletion", json={"password": gone.password},
                        headers=gone.headers)
    assert r.status_code == 202 and r.json()["scheduled"] is True
    assert (await http.delete("/api/v1/me/deletion", headers=gone.headers)).status_code == 204
    assert (await http.get("/api/v1/me/deletion", headers=gone.headers)).json() == {
        "scheduled": False, "due_at": None}
    await http.post("/api/v1/me/deletion", json={"password": gone.password},
                    headers=gone.headers)
    await _sweep(engines)  # not due yet: nothing happens
    assert (await http.get("/api/v1/me/books", headers=gone.headers)).status_code == 200
    await db_exec(engines.database_url, "UPDATE account_deletions SET due_at = now()"
                  " WHERE user_id = $1", gone.id)
    await _sweep(engines)

    assert await live.closed_with(timeout=15) is not None
    assert (await http.get("/api/v1/me/books", headers=gone.headers)).status_code == 401
    msgs = (await http.get(f"/api/v1/sessions/{session['id']}/messages",
                           headers=host.headers)).json()["items"]
    assert [m["author_name"] for m in msgs] == ["Deleted reader"], msgs  # body may be shielded
    rating = (await http.get(f"/api/v1/books/{book['id']}/rating")).json()
    assert rating["count"] == 0
    needles = [gone.handle, gone.email, f"Gone Reader {unique}"]
    assert await _rows_naming(engines.database_url, gone.id, needles) == []
    redis = Redis.from_url(engines.redis_url)
    try:
        left = await _keys_naming(redis, gone.id, needles)
        assert left == [], "\n".join(left)
    finally:
        await redis.aclose()
