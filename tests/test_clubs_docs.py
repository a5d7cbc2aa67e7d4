"""The published documents describe clubs: OpenAPI lists the club operations, AsyncAPI the
club room events."""

from __future__ import annotations

import httpx


async def test_openapi_and_asyncapi_list_clubs(http: httpx.AsyncClient) -> None:
    """A client generator finds every club route family and the club room's own events."""
    spec = (await http.get("/docs/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/api/v1/clubs", "/api/v1/clubs/{club_id}/join",
                 "/api/v1/clubs/{club_id}/messages", "/api/v1/clubs/{club_id}/schedule",
                 "/api/v1/clubs/{club_id}/sections/{section_id}/posts",
                 "/api/v1/clubs/{club_id}/events/{event_id}/rsvp",
                 "/api/v1/clubs/{club_id}/calendar.ics", "/api/v1/clubs/{club_id}/polls",
                 "/api/v1/clubs/{club_id}/board", "/api/v1/me/clubs/calendar.ics",
                 "/api/v1/clubs/{club_id}/sections/{section_id}/posts/{message_id}",
                 "/api/v1/clubs/{club_id}/sections/{section_id}/posts/{message_id}/reactions",
                 "/api/v1/clubs/{club_id}/sections/{section_id}/reactions",
                 "/api/v1/clubs/{club_id}/reports/{report_id}/resolve",
                 "/api/v1/clubs/{club_id}/polls/{poll_id}/close",
                 "/api/v1/books/{book_id}/clubs"):
        assert path in paths, path
    post = paths["/api/v1/clubs/{club_id}/sections/{section_id}/posts/{message_id}"]
    assert {"patch", "delete"} <= set(post)
    assert {"403", "404", "422"} <= set(post["patch"]["responses"])
    doc = (await http.get("/asyncapi.json")).json()
    messages = doc["channels"]["rooms"]["messages"]
    for tag in ("section_opened", "poll_opened", "poll_voted", "poll_closed", "banned", "left",
                "chat", "chat_edited", "chat_deleted", "reaction", "typing"):
        assert f"club_{tag}" in messages, tag
    assert "club_thread_chat" in messages
