"""Reports to a club's moderators and their queue: a member reports a club-chat message or a
thread post; organisers resolve each report by hiding the message (the discussion component's
delete, so it leaves every listing and the room's history), dismissing it, or banning its
author (which also hides it); a hidden message can be restored with a note saying why (the
component's restore: posted again under its own gate, live and in every listing)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.tokens import Principal
from domain.clubs import members
from domain.clubs.clubs import organiser
from domain.clubs.schemas import BanIn
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE, member_poster
from domain.db import Database
from domain.discussion import actions
from domain.discussion.commit import Outcome
from domain.discussion.place import Venue
from domain.errors import Conflict, Invalid, NotFound
from domain.ids import Id

PlaceKind = Literal["club", "club_thread"]


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    """`section_id` for a thread post; without it, a club-chat message."""

    message_id: Id
    section_id: Id | None = None
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    """`hide`, `dismiss`, `ban` an open report; `restore` a hidden one (a `note` saying why
    is required: the message comes back for everyone)."""

    action: Literal["hide", "dismiss", "ban", "restore"]
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class ReportOut(msgspec.Struct):
    id: int
    place_kind: PlaceKind
    place_id: int
    message_id: int
    author_id: int
    reporter_id: int
    reason: str
    status: str
    created_at: datetime
    note: str = ""                        # the organiser's reason when resolving
    resolved_by: int | None = None
    resolved_at: datetime | None = None


def _out(r: Any) -> ReportOut:
    return ReportOut(id=r["id"], place_kind=r["place_kind"], place_id=r["place_id"],
                     message_id=r["message_id"], author_id=r["author_id"],
                     reporter_id=r["reporter_id"], reason=r["reason"], status=r["status"],
                     created_at=r["created_at"], note=r["note"], resolved_by=r["resolved_by"],
                     resolved_at=r["resolved_at"])


def _venue(kind: str) -> Venue:
    return CLUB_VENUE if kind == "club" else THREAD_VENUE


async def report(db: Database, club_id: int, who: Principal, data: ReportIn) -> ReportOut:
    """A member reports a message of this club (once per message and reporter)."""
    await member_poster(db, club_id, None, who, chat=False)
    if data.section_id is None:
        kind, place_id, table, col = "club", club_id, "club_messages", "club_id"
    else:
        kind, place_id, table, col = ("club_thread", data.section_id, "club_thread_messages",
                                      "section_id")
        if not await db.pool.fetchval("SELECT EXISTS (SELECT 1 FROM club_sections WHERE"
                                      " id = $1 AND club_id = $2)", place_id, club_id):
            raise NotFound(f"no section {place_id}", code="section_not_found",
                           field="section_id")
    author = await db.pool.fetchval(f"SELECT author_id FROM {table} WHERE id = $1 AND {col} ="
                                    " $2 AND deleted_at IS NULL", data.message_id, place_id)
    if author is None:
        raise NotFound(f"no message {data.message_id}", code="message_not_found",
                       field="message_id")
    row = await db.pool.fetchrow(
        "INSERT INTO club_reports (club_id, place_kind, place_id, message_id, author_id,"
        " reporter_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (place_kind,"
        " message_id, reporter_id) DO UPDATE SET reason = EXCLUDED.reason RETURNING *",
        club_id, kind, place_id, data.message_id, author, who.user_id, data.reason)
    return _out(row)


QueueStatus = Literal["open", "hidden", "dismissed", "banned", "restored"]


async def queue(db: Database, club_id: int, who: Principal,
                status: str = "open") -> list[ReportOut]:
    """The organisers' queue: open reports (or those resolved one way, e.g. `hidden` ones to
    restore)."""
    await organiser(db, club_id, who)
    rows = await db.pool.fetch("SELECT * FROM club_reports WHERE club_id = $1 AND status ="
                               " $2 ORDER BY id LIMIT 500", club_id, status)
    return [_out(r) for r in rows]


async def resolve(db: Database, club_id: int, report_id: int, who: Principal,
                  action: str, note: str = "") -> tuple[ReportOut, Outcome[Any] | None]:
    """Resolve one report (and every report of the same message in the same state); hiding
    and restoring return the component's outcome for the caller to deliver (the deletion, or
    the message posted again)."""
    await organiser(db, club_id, who)
    row = await db.pool.fetchrow("SELECT * FROM club_reports WHERE id = $1 AND club_id = $2",
                                 report_id, club_id)
    if row is None:
        raise NotFound(f"no report {report_id}", code="report_not_found")
    was = "hidden" if action == "restore" else "open"
    if row["status"] != was:
        raise Conflict(f"only a report that is {was} can be resolved this way",
                       code="report_resolved")
    if action == "restore" and not note.strip():
        raise Invalid("say why the message comes back", code="note_required", field="note")
    outcome: Outcome[Any] | None = None
    venue, place_id, mid = _venue(row["place_kind"]), int(row["place_id"]), int(row["message_id"])
    if action in ("hide", "ban"):
        try:
            outcome = await actions.delete_message(db, venue, place_id, who, mid)
        except NotFound:
            outcome = None  # deleted meanwhile: nothing left to hide
    elif action == "restore":
        outcome = await actions.restore_message(db, venue, place_id, who, mid)
    if action == "ban":
        await members.ban(db, club_id, who, BanIn(user_id=int(row["author_id"]),
                                                  reason=row["reason"]))
    status = {"hide": "hidden", "dismiss": "dismissed", "ban": "banned",
              "restore": "restored"}[action]
    await db.pool.execute("UPDATE club_reports SET status = $3, resolved_by = $4, note = $6,"
                          " resolved_at = now() WHERE place_kind = $1 AND message_id = $2 AND"
                          " status = $5", row["place_kind"], row["message_id"], status,
                          who.user_id, was, note.strip())
    done = await db.pool.fetchrow("SELECT * FROM club_reports WHERE id = $1", report_id)
    return _out(done), outcome
