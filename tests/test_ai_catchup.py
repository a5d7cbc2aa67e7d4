"""Catch-up summaries: attributed extractive summaries pushed on user:<id>, cached, and never a
word from beyond the reader's position (every strategy, including the hosted model's input)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np

from domain.ai import summarize
from domain.ai.embed import WordLlamaEmbedder
from tests.ai_helpers import fake_openai
from tests.hub_support import Client
from tests.support import ServerProcess
from tests.test_sessions_helpers import db_exec, live_session, make_book, users
from tests.worker_helpers import run_worker, worker_settings

SAFE = [
    "The lighthouse keeper finally answered the letter from his sister. She wants him home.",
    "I loved the storm chapter. The waves against the tower felt so real!",
    "The keeper's sister is a great character. Her letters are funny and sad.",
    "Does anyone else think the storm is a metaphor for his grief? I do.",
    "The letters from his sister are the best part so far.",
]
SECRETS = ["In the end the keeper ZQXSECRET drowns. The sister inherits the ZQXTOWER.",
           "Chapter nine reveals ZQXTWIST: the letters were forged all along."]


async def _room(http: httpx.AsyncClient, engines: Any, unique: str) -> tuple[Any, Any, int]:
    """A live session: the host has read it all and wrote everything; the reader is at 0.3."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Catchup {unique}")
    sid = (await live_session(http, host, book))["id"]
    r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=reader.headers)
    assert r.status_code in (200, 201), r.text
    await db_exec(engines.database_url, "UPDATE session_participants SET furthest = CASE "
                  "WHEN user_id = $2 THEN 0.3 ELSE 1.0 END WHERE session_id = $1", sid, reader.id)
    for i, body in enumerate(SAFE):
        await db_exec(engines.database_url, "INSERT INTO session_messages (session_id, "
                      "author_id, body, gate) VALUES ($1, $2, $3, $4)", sid,
                      host.id if i % 2 == 0 else reader.id, body, 0.05 * (i + 1))
    for body in SECRETS:
        await db_exec(engines.database_url, "INSERT INTO session_messages (session_id, "
                      "author_id, body, gate) VALUES ($1, $2, $3, 0.8)", sid, host.id, body)
    return host, reader, sid


def _no_secret(anything: Any) -> None:
    text = json.dumps(anything)
    assert "ZQX" not in text, "a word from beyond the reader's position leaked"


async def test_summary_is_pushed_attributed_cached_and_spoiler_free(
        http: httpx.AsyncClient, server: ServerProcess, engines: Any, unique: str) -> None:
    """The worker's extractive summary arrives on user:<id>: sentences in original order, each
    with its author, none from the two messages gated beyond the reader; it is then served from
    the cache; the host (who has read everything) gets the secrets in their own summary."""
    host, reader, sid = await _room(http, engines, unique)
    live = await Client.login(server.ws_url, reader.id, origin=None)
    await live.ok("subscribe", room=f"user:{reader.id}")
    r = await http.post(f"/api/v1/sessions/{sid}/catch-up", json={}, headers=reader.headers)
    assert r.status_code == 202, r.text
    assert (await http.get(f"/api/v1/sessions/{sid}/catch-up",
                           headers=reader.headers)).status_code == 404
    await run_worker(worker_settings(engines))
    event = await live.expect(lambda f: f["type"] == "event" and f["event"] == "catchup_ready")
    summary = event["data"]["catchup"]
    _no_secret(event)
    assert summary["method"] == "extractive"
    assert summary["messages"] == len(SAFE) and summary["withheld"] == len(SECRETS)
    sentences = summary["sentences"]
    assert 1 <= len(sentences) < 10
    ids = [s["message_id"] for s in sentences]
    assert ids == sorted(ids)
    names = {host.id: f"User {host.handle}", reader.id: f"User {reader.handle}"}
    assert all(s["author_name"] == names[s["author_id"]] for s in sentences)
    assert all(any(s["text"] in body for body in SAFE) for s in sentences)
    again = await http.get(f"/api/v1/sessions/{sid}/catch-up", headers=reader.headers)
    assert again.status_code == 200 and again.json() == summary
    again = await http.post(f"/api/v1/sessions/{sid}/catch-up", json={}, headers=reader.headers)
    assert again.status_code == 200
    # the host has read everything: the same room, another gate, another summary
    r = await http.post(f"/api/v1/sessions/{sid}/catch-up", json={}, headers=host.headers)
    assert r.status_code == 202
    await run_worker(worker_settings(engines))
    mine = (await http.get(f"/api/v1/sessions/{sid}/catch-up", headers=host.headers)).json()
    assert mine["messages"] == len(SAFE) + len(SECRETS) and mine["withheld"] == 0
    # a new message is a new range, and reading further is a new gate: new summaries
    await db_exec(engines.database_url, "INSERT INTO session_messages (session_id, author_id, "
                  "body, gate) VALUES ($1, $2, 'The tower scene was wonderful to read.', 0.1)",
                  sid, host.id)
    r = await http.post(f"/api/v1/sessions/{sid}/catch-up", json={}, headers=reader.headers)
    assert r.status_code == 202
    await run_worker(worker_settings(engines))
    newer = (await http.get(f"/api/v1/sessions/{sid}/catch-up", headers=reader.headers)).json()
    assert newer["messages"] == len(SAFE) + 1 and newer["withheld"] == len(SECRETS)
    _no_secret(newer)
    await db_exec(engines.database_url, "UPDATE session_participants SET furthest = 0.9 "
                  "WHERE session_id = $1 AND user_id = $2", sid, reader.id)
    r = await http.post(f"/api/v1/sessions/{sid}/catch-up", json={}, headers=reader.headers)
    assert r.status_code == 202
    await run_worker(worker_settings(engines))
    caught = (await http.get(f"/api/v1/sessions/{sid}/catch-up", headers=reader.headers)).json()
    assert caught["withheld"] == 0 and caught["messages"] == len(SAFE) + 1 + len(SECRETS)
    await live.close()


async def test_hosted_model_sees_only_the_readers_safe_input_and_falls_back(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """With a chat endpoint configured, it gets only the messages the reader sees in full and
    its answer is the summary; when it fails or times out, the extractive summary is kept."""
    _, reader, sid = await _room(http, engines, unique)
    with fake_openai() as fake:
        fake.chat_reply = "Everyone is discussing the keeper's sister and the storm."
        settings = worker_settings(engines, READALONG_AI_CHAT_URL=fake.url,
                                   READALONG_AI_CHAT_TIMEOUT="0.5")
        await http.post(f"/api/v1/sessions/{sid}/catch-up", json={"since": 0},
                        headers=reader.headers)
        await run_worker(settings)
        got = (await http.get(f"/api/v1/sessions/{sid}/catch-up",
                              headers=reader.headers)).json()
        assert got["method"] == "abstractive" and got["text"] == fake.chat_reply
        sent = fake.requests[-1]
        assert sent["path"] == "/v1/chat/completions"
        _no_secret(sent)
        assert "storm chapter" in json.dumps(sent)
        # a later range, with a failing endpoint: the extractive summary, still safe
        first = sorted(m["message_id"] for m in got["sentences"])[0] if got["sentences"] else 0
        fake.delay = 1.0
        await http.post(f"/api/v1/sessions/{sid}/catch-up", json={"since": first},
                        headers=reader.headers)
        await run_worker(settings)
        later = (await http.get(f"/api/v1/sessions/{sid}/catch-up",
                                params={"since": first}, headers=reader.headers)).json()
        assert later["method"] == "extractive" and later["sentences"]
        _no_secret(later)


async def test_every_strategy_on_reader_safe_input_stays_safe() -> None:
    """TextRank keeps central sentences, drops near-duplicates and keeps the original order;
    and a summary of the safe lines contains no planted secret, whatever its size."""
    lines = [summarize.Line(i + 1, 1, "Ann", body) for i, body in enumerate(SAFE)]
    lines.append(summarize.Line(99, 2, "Bo", SAFE[4]))  # an exact duplicate
    embedder = WordLlamaEmbedder()
    for k in range(1, 8):
        picked = await summarize.extractive(embedder, lines, k)
        _no_secret([p.text for p in picked])
        assert len({p.text for p in picked}) == len(picked)
        assert [p.message_id for p in picked] == sorted(p.message_id for p in picked)
    ranks = summarize.textrank(np.eye(3) + 0.5)
    assert abs(ranks.sum() - 1.0) < 1e-6


async def test_catch_up_answers_clear_errors(http: httpx.AsyncClient, unique: str) -> None:
    """An unknown session is 404, a negative or non-numeric `since` is 400, and asking without
    a token is 401 - never a 500."""
    (reader,) = await users(http, unique, 1)
    r = await http.post("/api/v1/sessions/999999999/catch-up", json={}, headers=reader.headers)
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    r = await http.post("/api/v1/sessions/1/catch-up", json={"since": -1},
                        headers=reader.headers)
    assert r.status_code == 400
    r = await http.get("/api/v1/sessions/1/catch-up", params={"since": "x"},
                       headers=reader.headers)
    assert r.status_code == 400
    assert (await http.post("/api/v1/sessions/1/catch-up", json={})).status_code == 401
