"""Ids outside 1..2**63-1 anywhere in a request: 404 in a path, 422 naming the field otherwise."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.accounts_helpers import register
from tests.catalog_helpers import auth
from tests.conftest import Engines
from tests.service_helpers import http_routes
from tests.test_sessions_helpers import live_session, make_book, users

BAD_IDS = (2**63, 10**30)
UNKNOWN = 2**62 + 12345  # in range, never issued


def id_routes() -> list[tuple[str, str]]:
    """(method, path template) of every REST route with an int id in its path, from the app's
    own route list (a route added later joins this sweep by itself)."""
    return [(method, route.path) for method, route in http_routes("/")
            if any(p.type is int for p in route.path_parameters.values())]


ROUTES = id_routes()


def fill(path: str, bad: int) -> str:
    path = re.sub(r"\{\w+:int\}", str(bad), path)
    return re.sub(r"\{\w+:str\}", "someone", path)


def test_the_sweep_covers_every_kind_of_id() -> None:
    """The route list the sweep walks names books, sessions, messages, annotations,
    participants, notifications, push subscriptions and failed jobs."""
    names = {name for _, path in ROUTES for name in re.findall(r"\{(\w+):int\}", path)}
    assert {"book_id", "session_id", "message_id", "annotation_id", "user_id", "notification_id",
            "subscription_id", "failure_id"} <= names
    assert len(ROUTES) >= 25


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_every_route_answers_404_for_an_id_past_bigint(http: httpx.AsyncClient,
                                                              bad: int) -> None:
    """Each route with an id in its path answers 404 problem details (never a 500) for 2**63
    and 10**30, for an admin caller with a JSON body."""
    failures = []
    headers = auth("admin")
    for method, template in ROUTES:
        r = await http.request(method, fill(template, bad), headers=headers, json={})
        if r.status_code != 404 or not r.headers["content-type"].startswith(
                "application/problem+json") or not r.json()["code"].endswith("not_found"):
            failures.append(f"{method} {template}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)


async def test_unknown_ids_in_range_never_answer_a_server_error(
        http: httpx.AsyncClient) -> None:
    """A number in range that names nothing answers without a 5xx on every route with an
    int in its path (404 where the body is fine, 400/422/428 where it is not), and every
    error is problem details."""
    failures = []
    for method, template in ROUTES:
        r = await http.request(method, fill(template, UNKNOWN), headers=auth("admin"), json={})
        if r.status_code >= 500 or (r.status_code >= 400 and not r.headers[
                "content-type"].startswith("application/problem+json")):
            failures.append(f"{method} {template}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)


async def test_zero_and_negative_path_ids_are_not_found(http: httpx.AsyncClient) -> None:
    """A path id of 0, -1 or 2**63 names no book: 404 `book_not_found`, the answer an
    unknown id in range gets."""
    unknown = await http.get("/api/v1/books/987654321987")
    assert unknown.status_code == 404 and unknown.json()["code"] == "book_not_found"
    for value in ("0", "-1", str(2**63)):
        r = await http.get(f"/api/v1/books/{value}")
        assert r.status_code == 404 and r.json()["code"] == "book_not_found", r.text


async def test_query_ids_out_of_range_are_422_naming_the_parameter(
        http: httpx.AsyncClient) -> None:
    """`GET /annotations?book_id=2**63` (and 10**30, 0) answers 422 `invalid` with the
    parameter named; a well-formed unknown book id still answers normally."""
    for bad in (*BAD_IDS, 0):
        r = await http.get("/api/v1/annotations", params={"book_id": str(bad)})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "invalid"
        assert body["errors"][0]["field"] == "book_id" and body["errors"][0]["source"] == "query"
    r = await http.get("/api/v1/annotations", params={"book_id": "987654321"})
    assert r.status_code < 500, r.text


async def test_body_ids_out_of_range_are_422_naming_the_field(http: httpx.AsyncClient,
                                                               unique: str) -> None:
    """`read-all {"up_to_id": 2**63}` answers 422 `invalid` naming `up_to_id`; 0 too."""
    user = await register(http, unique, prefix="ids")
    for bad in (*BAD_IDS, 0):
        r = await http.post("/api/v1/notifications/read-all", json={"up_to_id": bad},
                            headers=user.headers)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid"
        assert r.json()["errors"][0]["field"] == "up_to_id"


async def test_session_bodies_with_huge_ids_are_422_not_500(http: httpx.AsyncClient,
                                                            engines: Engines,
                                                            unique: str) -> None:
    """`POST /sessions {"book_id": 2**63}` and a host hand-over to user 2**63 answer 422
    `invalid`, never a 500."""
    host, = await users(http, unique, 1)
    for bad in BAD_IDS:
        r = await http.post("/api/v1/sessions", json={"book_id": bad, "title": "Huge"},
                            headers=host.headers)
        assert r.status_code == 422 and r.json()["code"] == "invalid", r.text
    book = await make_book(engines.database_url, f"Ids {unique}")
    session = await live_session(http, host, book)
    for bad in BAD_IDS:
        r = await http.post(f"/api/v1/sessions/{session['id']}/host", json={"user_id": bad},
                            headers=host.headers)
        assert r.status_code == 422 and r.json()["code"] == "invalid", r.text
