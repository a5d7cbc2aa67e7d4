"""The `session:<id>` room kind itself: admission, commands, positions, unlocks, shield changes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import effects
from domain.discussion.events import SessionWireEvent
from domain.discussion.spoilers import ViewerState
from domain.errors import Invalid
from domain.reading import coreading, events, finish, progress
from domain.reading.events import ReadingEvent
from domain.sessions import admission, content, positions, social
from domain.sessions.behind import Behind, Written, write_behind
from domain.sessions.books import BookInfo
from domain.sessions.onconn import OnConnection
from domain.sessions.positions import stored_position
from domain.sessions.schemas import Position
from domain.sessions.venue import VENUE
from realtime import control
from realtime.rooms import base, discussion_commands
from realtime.rooms.base import ConnectionInfo, HubContext, RoomEvent, RoomKind, Viewer
from realtime.rooms.discussion_commands import Annotate
from realtime.rooms.positions.live import LivePositions
from realtime.rooms.positions.writebehind import Pending, WriteBehind
from realtime.rooms.session.caches import HiddenAuthors, SessionBooks
from realtime.rooms.session.commands import PresenceMeta, SessionCommand, Shield
from realtime.rooms.session.commands import decode as _decode
from realtime.rooms.session.events import unlocked_event

log = logging.getLogger("readalong.sessions")


def session_id_of(room_id: str) -> int:
    raw = room_id.partition(":")[2] if room_id.startswith("session:") else room_id
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid("a session room is session:<id>", code="invalid_room", field="room")
    return int(raw)


def _principal(conn: ConnectionInfo) -> Principal:
    return Principal(user_id=conn.user_id, role=conn.role, jti="", exp=0)


class SessionRoom(RoomKind):
    """Authorisation, publishing and presence for `session:<id>` (rules live in domain/)."""

    prefix = "session"
    keeps_history = True
    accepts_publish = True
    presence = True
    events = SessionWireEvent  # the discussion events it publishes (listed by /asyncapi.json)

    def __init__(self, db: Database, redis: Redis, *, flush_interval: float = 0.1,
                 reclaim_after: float = 10.0) -> None:
        self.db = db
        self.redis = redis
        self.books = SessionBooks(db)  # each session's book and mode
        self.hidden = HiddenAuthors(db)  # each reader's hidden authors, for a few seconds
        # moves are acked in Redis (the live source) and written behind to PostgreSQL
        self.live = LivePositions(redis)
        self.behind = WriteBehind(redis, self._write_behind, flush_interval, reclaim_after,
                                  after=self._after_batch)
        self._hub: HubContext | None = None
        VENUE.live = self._live_of  # REST listings and gates at writing time read it too
        self._effects = effects.runner(VENUE)  # discussion side effects (after publishing)
        # started/finished-book milestones run after the ack, one chain per reader; the
        # reader's next subscribe, leave or note waits for it (their feed keeps their order)
        self._milestones: dict[int, asyncio.Future[None]] = {}
        # the live leaderboard push for the records session moves credit (set by the server)
        self.scores_push: events.Push | None = None
        # (room, connection) -> presence meta to start from, between authorize and the join
        self._rejoin: dict[tuple[str, str], dict[str, Any]] = {}
        # readers with moves acked here and maybe not written yet -> their rooms: written
        # before their next subscribe, leave or note (the commands with feed activities: the
        # feed keeps their order); chat, reactions and the rest never wait for PostgreSQL
        self._unwritten: dict[int, set[str]] = {}
        self._settling: dict[int, asyncio.Future[None]] = {}  # readers' settles running now

    def start(self, hub: HubContext) -> None:
        """Start writing moves behind (the server calls it once the hub runs)."""
        self._hub = hub
        self.behind.start()

    async def stop(self) -> None:
        """Write every pending move (any node's) before the process stops."""
        await self.behind.stop()

    async def ended(self, session_id: int) -> None:
        """The session ended (after its commit): write its pending moves, refuse new ones."""
        room = self._room(str(session_id))
        await self.behind.flush_room(room)
        await self.live.mark_ended(room)

    async def _live_of(self, session_id: int, user_id: int,
                       ) -> tuple[float, Position | None] | None:
        got = await self.live.get(self._room(str(session_id)), user_id)
        return (got.furthest, got.position) if got is not None else None

    async def _session_book(self, session_id: int) -> BookInfo:
        return await self.books.get(session_id)

    async def _hidden(self, user_id: int) -> tuple[frozenset[int], bool]:
        return await self.hidden.get(user_id)

    def _room(self, room_id: str) -> str:
        return room_id if room_id.startswith("session:") else f"session:{room_id}"

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        sid = session_id_of(room_id)
        await self._settle(conn.user_id)
        row, part, new = await admission.connect(self.db, _principal(conn), sid)
        await self._session_book(sid)  # read once per node here, not on the first moves
        if new:  # first admission: the `joined_session` activity (never fails the subscribe)
            await social.after_join(self.db, self.redis, row, conn.user_id)
        state = await content.viewer_state(self.db, sid, conn.user_id)
        # the live source starts from the stored furthest and position (never lowered)
        live = await self.live.seed(self._room(room_id), conn.user_id, state.progress or 0.0,
                                    stored_position(part))
        # a returning reader shows up where they were (not at 0): see `initial_meta`
        stored = live.position
        if stored is not None:
            if len(self._rejoin) > 10_000:
                self._rejoin.clear()
            self._rejoin[(self._room(room_id), conn.conn_id)] = {
                "position": msgspec.to_builtins(stored)}
        progress = max(state.progress or 0.0, live.furthest)
        return Viewer(progress=progress if progress or state.progress is not None else None,
                      shield=state.shield, hidden_authors=state.hidden_authors)

    def initial_meta(self, conn: ConnectionInfo, room_id: str) -> dict[str, Any] | None:
        """The stored position of the reader `authorize` just admitted: their presence member
        starts there, for the others and in their own subscribe ack (a rejoin or a reload does
        not move them back to 0)."""
        return self._rejoin.pop((self._room(room_id), conn.conn_id), None)

    async def on_leave(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> None:
        self._rejoin.pop((self._room(room_id), conn.conn_id), None)
        sid = session_id_of(room_id)
        await self._settle(conn.user_id)
        await admission.disconnect(self.db, sid, conn.user_id)
        try:  # co-reading minutes of the attendance just closed (XP, the minutes board)
            scores = await coreading.credit(self.db, sid, [conn.user_id])
            if scores:
                book = await self._session_book(sid)
                await events.after_commit(self.db, self.redis, [ReadingEvent(
                    "scored", conn.user_id, book.id, scores=scores)], self.scores_push)
        except Exception:  # the attendance is durable: the session's end credits it
            log.exception("co-reading credit of user %s in session %s failed", conn.user_id,
                          sid)

    async def on_publish(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                         data: dict[str, Any]) -> tuple[list[RoomEvent], dict[str, Any]]:
        sid = session_id_of(room_id)
        who = _principal(conn)
        cmd = _decode(data, SessionCommand, "session command")
        if isinstance(cmd, Annotate):  # a public note is a feed activity: after the moves'
            await self._settle(conn.user_id)
        match cmd:
            case Shield(enabled=enabled):
                effective = await positions.set_shield(self.db, sid, conn.user_id, enabled)
                await hub.update_reader(self._room(room_id), conn.user_id, shield=effective)
                if not effective:
                    state = await content.viewer_state(self.db, sid, conn.user_id)
                    await self._push_unlocked(hub, conn, room_id, sid, state.progress or 0.0,
                                              1.0)
                return [], {"shield": effective}
        # a discussion command: the use-case REST calls too, then publish, side effects, ack
        result = await discussion_commands.handle(hub, self.redis, self.db, VENUE,
                                                  self._effects, sid, conn, who, cmd)
        return [], result

    async def on_presence(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                          meta: dict[str, Any]) -> dict[str, Any] | base.MetaStored:
        sid = session_id_of(room_id)
        parsed: PresenceMeta = _decode(meta, PresenceMeta, "presence meta")
        out: dict[str, Any] = {"state": parsed.state}
        room = self._room(room_id)
        if parsed.position is None:  # active/idle only: keep showing the last position
            got = await self.live.get(room, conn.user_id)
            last = got.position if got is not None else None
            if last is None:
                last = await positions.last_position(self.db, sid, conn.user_id)
            if last is not None:
                out["position"] = msgspec.to_builtins(last)
            return out
        book = self.books.cached(sid) or await self._session_book(sid)
        pos = positions.check_position(parsed.position,
                                       book.chapter_at if book.chapter_starts else None)
        out["position"] = msgspec.to_builtins(pos)
        # one Redis round trip (the presence meta too); PostgreSQL gets it from the
        # write-behind (unlocks then)
        before, after, elsewhere, member = await self.live.move(
            room, conn.user_id, pos, conn.node_id, base.encode_meta(out))
        self._unwritten.setdefault(conn.user_id, set()).add(room)
        # blocks and mutes made since subscribing take effect from the next move on
        hidden, fresh = self.hidden.cached(conn.user_id) or await self._hidden(conn.user_id)
        if elsewhere and (after > before or fresh):  # the live shield on every node
            await hub.update_reader(room, conn.user_id, progress=after, hidden_authors=hidden)
        elif after > before or fresh:  # all their sockets are here: no control message
            hub.update_local_reader(room, conn.user_id, progress=after, hidden_authors=hidden)
        if self.books.mode(sid) == "follow" and await positions.host_moved(self.db, sid,
                                                                           conn.user_id, pos):
            await hub.publish(room, RoomEvent("follow", {
                "user_id": conn.user_id, "position": out["position"]}))
        return base.MetaStored(out, member)

    async def _write_behind(self, pending: list[Pending]) -> list[Written]:
        """(From the write-behind) store the moves in one transaction."""
        moves = [Behind(session_id=session_id_of(p.room), user_id=p.user_id,
                        progression=p.position.progression, locator=p.position.locator,
                        chapter=p.position.chapter, furthest=p.furthest, start=p.start)
                 for p in pending]
        for attempt in (1, 2):
            try:
                async with self.db.pool.acquire() as conn, conn.transaction():
                    written = await write_behind(conn, moves)
                break
            except Exception:
                if attempt == 2:
                    raise
                log.warning("writing session moves behind failed; once more", exc_info=True)
        return written

    async def _after_batch(self, written: list[Written]) -> None:
        """(From the write-behind, after the commit) per reader: the unlocks of this room
        (full variants of what the write passed), milestones, other rooms' unlocks."""
        hub = self._hub
        if hub is None:
            return
        scored: list[ReadingEvent] = []  # every reader's leaderboard records: synced at once
        for w in written:
            rooms = self._unwritten.get(w.move.user_id)
            if rooms is not None:
                rooms.discard(self._room(str(w.move.session_id)))
                if not rooms:
                    del self._unwritten[w.move.user_id]
            try:
                await self._after_write(hub, w, scored)
            except Exception:
                log.exception("after writing a session move of reader %s", w.move.user_id)
        await events.after_scores(self.redis, scored, self.scores_push)

    async def _after_write(self, hub: HubContext, w: Written, scored: list[ReadingEvent],
                           ) -> None:
        sid, uid = w.move.session_id, w.move.user_id
        room = self._room(str(sid))
        seen = max(w.seen_before, w.move.furthest)
        if w.kinds and w.shield and seen > w.seen_before:
            hidden, _ = await self._hidden(uid)
            state = ViewerState(user_id=uid, progress=seen, shield=True, hidden_authors=hidden)
            async with self.db.pool.acquire() as raw:  # one checkout for the 3 statements
                items = await content.unlocked_between(OnConnection(raw), sid,  # type: ignore[arg-type]
                                                       state, w.seen_before, seen,
                                                       known_gated=True, kinds=w.kinds)
            if items:
                await hub.send_to_reader(room, uid, [unlocked_event(i) for i in items])
        book = await self._session_book(sid)
        _, done = social.milestones(book, w.old_furthest, w.new_furthest)
        happened = progress.passive_events([w.reading] if w.reading else [])
        scored += [e for e in happened if e.kind == "scored"]
        # (and no other live room of the book to unlock in: no lookup)
        happened = [e for e in happened if e.kind != "scored" and (
            w.elsewhere or e.kind != "advanced")]
        ends = w.reading is not None and w.reading.status == "reading" and (
            done or (w.reading.gain > 0 and finish.finishes(w.reading.furthest)))
        # (a start is recorded by the write itself: `behind.write_behind`; no task for it)
        if done or happened or ends:  # feed activities (once per book), unlocks
            self._milestone(hub, uid, book, happened, done, sid, ends)

    def _milestone(self, hub: HubContext, user_id: int, book: BookInfo,
                   happened: list[ReadingEvent], done: bool, sid: int,
                   ends: bool = False) -> None:
        """Off the ack path (after the reader's previous milestone, if one is still running):
        the reading events of the move (a `started` read: the started-book activity; the
        furthest grew: unlocks in the reader's other live rooms of the book), then the
        session's finished-book activity (`after_commit` and `after_move` never raise).
        `ends`: the move reached the end of the book: the reading state becomes `read` by the
        REST rules first (its `finished` event posts the activity; `after_move` then sees `read`
        and posts nothing)."""
        prev = self._milestones.get(user_id)

        async def unlock(uid: int, book_id: int, previous: float, furthest: float) -> None:
            await self.reader_advanced(hub, uid, book_id, previous, furthest, exclude=sid)

        async def run() -> None:
            if prev is not None:
                await asyncio.shield(prev)
            done_events = list(happened)
            if ends:
                try:
                    done_events += await finish.finish_passive(self.db, user_id, book.id,
                                                             ended=done)
                except Exception:  # the move is durable; marking read again over REST works
                    log.exception("finishing book %s for user %s failed", book.id, user_id)
            await events.after_commit(self.db, self.redis, done_events, self.scores_push, unlock)
            if len(done_events) > len(happened):  # finished here: goals may be reached now
                await finish.check_goals(self.db, self.redis, user_id)
            await social.after_move(self.db, self.redis, user_id, book, False, done)

        _latest(self._milestones, user_id, asyncio.create_task(run()))

    async def _settle(self, user_id: int) -> None:
        """Write the reader's moves acked on this node, then wait for their pending milestone
        activities (if any); after any settle of theirs still running (a socket's leave on
        close races the next socket's subscribe: the leave took the rooms to write)."""
        prev = self._settling.get(user_id)

        async def settle() -> None:
            if prev is not None:
                await asyncio.gather(prev, return_exceptions=True)
            for room in list(self._unwritten.pop(user_id, ())):
                await self.behind.flush_room(room)
            task = self._milestones.get(user_id)
            if task is not None:
                await asyncio.shield(task)
        await asyncio.shield(_latest(self._settling, user_id, asyncio.ensure_future(settle())))

    async def _push_unlocked(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                             sid: int, old: float, new: float,
                             state: ViewerState | None = None) -> None:
        if state is None:
            state = await content.viewer_state(self.db, sid, conn.user_id)
        items = await content.unlocked_between(self.db, sid, state, old, new)
        if items:
            await hub.send_to_reader(self._room(room_id), conn.user_id,
                                     [unlocked_event(i) for i in items])

    async def reader_advanced(self, hub: HubContext, user_id: int, book_id: int,
                              previous: float, furthest: float,
                              exclude: int | None = None) -> None:
        """A reader's reading-state furthest in `book_id` grew from `previous` to `furthest`
        (any source, after its commit): in every live session of that book they joined (but
        `exclude`), their sockets on every node get the new progress, and with the shield on,
        the full variants of what it unlocks there (`send_to_reader` crosses nodes)."""
        rows = await self.db.pool.fetch(
            "SELECT s.id, p.furthest, COALESCE(p.shield, s.shield_default) AS shield"
            " FROM session_participants p JOIN reading_sessions s ON s.id = p.session_id"
            " WHERE p.user_id = $1 AND s.book_id = $2 AND s.status = 'live' AND NOT p.kicked",
            user_id, book_id)
        for row in rows:
            sid = int(row["id"])
            own = float(row["furthest"] or 0.0)
            old, new = max(own, previous), max(own, furthest)
            if sid == exclude or new <= old:
                continue
            room = self._room(str(sid))
            await self.live.raise_furthest(room, user_id, new)
            await hub.update_reader(room, user_id, progress=new)
            if row["shield"]:
                state = await content.viewer_state(self.db, sid, user_id)
                items = await content.unlocked_between(self.db, sid, state, old, new)
                if items:
                    await hub.send_to_reader(room, user_id, [unlocked_event(i) for i in items])

    async def kick(self, hub: HubContext, room: str, user_id: int) -> None:
        """Drop a kicked reader's sockets from the room on every node (they get `kicked`)."""
        await hub.evict(room, user_id, RoomEvent("kicked", {"user_id": user_id}))

    async def reshield(self, room: str) -> None:
        """The host changed the room's shield default: every node re-reads the shield of its
        readers in the room (those without their own setting follow the default)."""
        await control.publish(self.redis, control.Reshield(room=room))

    async def on_reshield(self, hub: HubContext, room: str) -> None:
        """(On every node, from the control channel) re-read this node's readers' shields."""
        sid = session_id_of(room)
        for user_id, tabs in hub.local_readers(room).items():
            state = await content.viewer_state(self.db, sid, user_id)
            for tab in tabs:
                hub.update_viewer(tab, room, shield=state.shield)
            if not state.shield:
                items = await content.unlocked_between(self.db, sid, state,
                                                       state.progress or 0.0, 1.0)
                events = [unlocked_event(i) for i in items]
                for tab in tabs:
                    if events:
                        await hub.send_to(tab, room, events)


def _latest(running: dict[int, asyncio.Future[None]], user_id: int, task: asyncio.Future[None],
            ) -> asyncio.Future[None]:
    """Note `task` as the reader's latest in `running` (the next one chains after it), until
    it is done (unless a later one replaced it)."""
    running[user_id] = task

    def forget(done: asyncio.Future[None]) -> None:
        if running.get(user_id) is done:
            del running[user_id]
    task.add_done_callback(forget)
    return task
