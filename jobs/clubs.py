"""Club jobs: open the schedule's sections when their time comes (idempotent: each section is
opened by exactly one statement, even with two workers), announce each on its club's room as a
`section_opened` status event, then notify every member."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from domain.clubs import events, notices, polls, schedule
from domain.clubs.clubs import room_of
from domain.clubs.room_events import PollClosed, SectionOpened, SectionOpenedData, wire
from jobs.retry import task
from realtime.rooms.base import RoomEvent

log = logging.getLogger("readalong.clubs")


def _now(now: str | None) -> datetime:
    """The job's clock: now, or the instant a caller passes (tests, catch-up runs)."""
    if now is None:
        return datetime.now(UTC)
    at = datetime.fromisoformat(now)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@task
async def open_due_sections(ctx: dict[str, Any], now: str | None = None) -> int:
    """Cron: every due section opens (committed first), is announced on `club:<id>`, and each
    member gets `club_section_opened` (title and range only: no content travels)."""
    db = ctx["db"]
    opened = await schedule.open_due(db, _now(now))
    for s in opened:
        name, data = wire(SectionOpened(SectionOpenedData(
            club_id=int(s["club_id"]), section_id=int(s["id"]), title=s["title"],
            start=float(s["range_start"]), end=float(s["range_end"]),
            room=schedule.thread_room(int(s["id"])))))
        try:
            await ctx["publisher"].publish(room_of(int(s["club_id"])), RoomEvent(name, data))
        except Exception:
            log.exception("announcing section %s failed", s["id"])
        await notices.notify_all(db, ctx["redis"], await notices.member_ids(db, int(s["club_id"])),
                                 type="club_section_opened", target_kind="club_section",
                                 target_id=int(s["id"]),
                                 payload={"club": s["club_name"], "section": s["title"], **data})
    return len(opened)


@task
async def remind_club_events(ctx: dict[str, Any], now: str | None = None) -> int:
    """Cron: remind attendees 24 h and 1 h before each event (once per lead)."""
    return await events.remind_due(ctx["db"], ctx["redis"], _now(now))


@task
async def close_due_polls(ctx: dict[str, Any], now: str | None = None) -> int:
    """Cron: every poll past its closing time closes once; members are notified and the club
    room gets the final results (`poll_closed`)."""
    db = ctx["db"]
    closed = await polls.close_due(db, ctx["redis"], _now(now))
    for club_id, poll_id in closed:
        try:
            name, data = wire(PollClosed(await polls.live_data(db, club_id, poll_id)))
            await ctx["publisher"].publish(room_of(club_id), RoomEvent(name, data))
        except Exception:
            log.exception("announcing poll %s closed failed", poll_id)
    return len(closed)
