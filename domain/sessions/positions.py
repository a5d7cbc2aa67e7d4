"""Readers' positions: checking and recording moves (group commit), last position, own shield."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.reading.progress import Advance, Passive, advance_many
from domain.sessions.schemas import Position
from domain.sessions.spoilers import check_progression

log = logging.getLogger("readalong.sessions")
MAX_BATCH = 500  # moves per statement
ChapterAt = Callable[[float], "int | None"]  # the book's TOC: chapter index of a progression


class Moved(msgspec.Struct, frozen=True):
    """The result of a position report: the normalised position and the furthest before/after."""

    position: Position
    old_furthest: float | None
    new_furthest: float
    follow: bool  # the host of a follow-mode session moved: broadcast it
    shield: bool  # the reader's effective shield
    gated: bool = False  # content by others has gates in (old furthest, new furthest]
    kinds: str = ""  # which: "m" messages, "r" reactions, "a" annotations
    # the reader's gate progress in the session (max of the session's own furthest and their
    # reading state's furthest in the book) before and after the move: what the shield uses
    seen_before: float = 0.0
    seen: float = 0.0
    reading: Advance | None = None  # what the move did to the reading state (written through)


MOVE_SQL = """
WITH s AS (SELECT id, book_id, status, mode, host_id, shield_default FROM reading_sessions
           WHERE id = $1),
rs AS (SELECT r.furthest FROM reading_states r JOIN s ON r.book_id = s.book_id
       WHERE r.user_id = $2),
old AS (SELECT furthest, kicked, shield FROM session_participants
        WHERE session_id = $1 AND user_id = $2 FOR UPDATE),
upd AS (UPDATE session_participants p SET progression = $3, locator = $4, chapter = $5,
               furthest = GREATEST(COALESCE(p.furthest, 0), $3),
               start_progression = COALESCE(p.start_progression, $3)
        FROM s WHERE p.session_id = $1 AND p.user_id = $2 AND NOT p.kicked
        AND s.status <> 'ended' RETURNING p.furthest)
SELECT s.status, s.book_id, s.mode, s.host_id, s.shield_default, old.furthest AS old_furthest,
       old.kicked, old.shield, (SELECT furthest FROM upd) AS new_furthest,
       GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)) AS seen,
       ($3 > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0))) AS forward,
       ($3 > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_messages m WHERE m.session_id = $1
                 AND m.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)) AND m.gate <= $3
                 AND m.deleted_at IS NULL AND m.author_id <> $2) AS gated_m,
       ($3 > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_reactions r WHERE r.session_id = $1
                 AND r.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)) AND r.gate <= $3
                 AND r.author_id <> $2) AS gated_r,
       ($3 > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_annotations a WHERE a.session_id = $1
                 AND a.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(rs.furthest, 0)) AND a.gate <= $3
                 AND a.deleted_at IS NULL AND a.author_id <> $2
                 AND a.visibility <> 'private') AS gated_a
FROM s LEFT JOIN old ON true LEFT JOIN rs ON true
"""


def check_position(position: Position, chapter_at: ChapterAt | None = None) -> Position:
    """Validate a reported position (progression 0..1, locator <= 512 chars) and set the
    chapter from the book's table of contents when it has one."""
    progression = check_progression(position.progression)
    locator = position.locator
    if locator is not None and (not isinstance(locator, str) or len(locator) > 512):
        raise Invalid("locator must be a string of at most 512 characters",
                      code="invalid_position", field="locator")
    chapter = chapter_at(progression) if chapter_at is not None else None
    if chapter is None and position.chapter is not None:
        if position.chapter < 0 or position.chapter > 100000:
            raise Invalid("chapter must be a TOC index", code="invalid_position",
                          field="chapter")
        chapter = position.chapter
    return Position(progression=progression, locator=locator, chapter=chapter)


async def move(db: Database, session_id: int, user_id: int, position: Position,
               chapter_at: ChapterAt | None = None, writer: MoveWriter | None = None) -> Moved:
    """Record a reader's position (one statement; a second only for a follow-mode host). The
    same statement says whether the move passed any gate, so most moves cost one round trip.
    With a `MoveWriter`, moves arriving together share one statement (group commit:
    still written before this returns)."""
    pos = check_position(position, chapter_at)
    args = (session_id, user_id, pos.progression, pos.locator, pos.chapter)
    if writer is not None:
        row, reading = await writer.write_move(args)
    else:
        async with db.pool.acquire() as conn, conn.transaction():
            (row, reading), = await write_through(conn, [args], MOVE_SQL)
    if row is None:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    if row["status"] == "ended":
        raise Conflict("the session has ended", code="session_ended")
    if row["new_furthest"] is None:
        raise Forbidden("you are not in this session", code="not_participant")
    follow = row["mode"] == "follow" and row["host_id"] == user_id
    if follow:
        await db.pool.execute(
            "UPDATE reading_sessions SET host_progression = $2, host_locator = $3,"
            " host_chapter = $4 WHERE id = $1", session_id, pos.progression, pos.locator,
            pos.chapter)
    shield = row["shield"] if row["shield"] is not None else row["shield_default"]
    kinds = "".join(k for k in "mra" if row[f"gated_{k}"])
    new_furthest = float(row["new_furthest"])
    seen_before = float(row["seen"])
    seen = max(new_furthest, seen_before, reading.furthest if reading is not None else 0.0)
    return Moved(position=pos, old_furthest=row["old_furthest"], new_furthest=new_furthest,
                 follow=follow, shield=bool(shield), gated=bool(kinds), kinds=kinds,
                 seen_before=seen_before, seen=seen, reading=reading)


async def host_moved(db: Database, session_id: int, user_id: int, pos: Position) -> bool:
    """Follow mode: record the host's move as the room's position; False for anyone else."""
    row = await db.pool.fetchval(
        "UPDATE reading_sessions SET host_progression = $3, host_locator = $4,"
        " host_chapter = $5 WHERE id = $1 AND host_id = $2 AND mode = 'follow' RETURNING id",
        session_id, user_id, pos.progression, pos.locator, pos.chapter)
    return row is not None


async def set_shield(db: Database, session_id: int, user_id: int, enabled: bool | None) -> bool:
    """A reader turns their own shield on/off (None: back to the room default); effective value."""
    row = await db.pool.fetchrow(
        "UPDATE session_participants p SET shield = $3 FROM reading_sessions s"
        " WHERE p.session_id = $1 AND p.user_id = $2 AND s.id = p.session_id AND NOT p.kicked"
        " RETURNING COALESCE(p.shield, s.shield_default) AS effective",
        session_id, user_id, enabled)
    if row is None:
        raise Forbidden("you are not in this session", code="not_participant")
    return bool(row["effective"])


async def last_position(db: Database, session_id: int, user_id: int) -> Position | None:
    """A reader's last reported position in a session (None before the first report)."""
    row = await db.pool.fetchrow(
        "SELECT progression, locator, chapter FROM session_participants WHERE session_id = $1"
        " AND user_id = $2", session_id, user_id)
    return stored_position(row)


def stored_position(row: Any) -> Position | None:
    """The position kept on a participant row (None when they have not reported one)."""
    if row is None or row["progression"] is None:
        return None
    return Position(progression=row["progression"], locator=row["locator"],
                    chapter=row["chapter"])


# The batched form of the one-move statement (MOVE_SQL): same checks and same result per move
# (`ord` says which move a row answers). Each move is written before its caller gets its answer,
# so the furthest progression is durable (and visible to REST) before the ack, as before.
_BATCH_SQL = """
WITH m AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[],
                                $5::int[], $6::int[])
           AS m(session_id, user_id, progression, locator, chapter, ord)),
s AS (SELECT m.ord, rs.book_id, rs.status, rs.mode, rs.host_id, rs.shield_default
      FROM m JOIN reading_sessions rs ON rs.id = m.session_id),
st AS (SELECT s.ord, r.furthest AS state_furthest FROM s JOIN m USING (ord)
       JOIN reading_states r ON r.user_id = m.user_id AND r.book_id = s.book_id),
old AS (SELECT m.ord, p.furthest, p.kicked, p.shield FROM m JOIN session_participants p
        ON p.session_id = m.session_id AND p.user_id = m.user_id
        ORDER BY p.session_id, p.user_id FOR UPDATE OF p),
upd AS (UPDATE session_participants p SET progression = m.progression, locator = m.locator,
               chapter = m.chapter, furthest = GREATEST(COALESCE(p.furthest, 0), m.progression),
               start_progression = COALESCE(p.start_progression, m.progression)
        FROM m JOIN reading_sessions rs ON rs.id = m.session_id
        WHERE p.session_id = m.session_id AND p.user_id = m.user_id AND NOT p.kicked
        AND rs.status <> 'ended' RETURNING m.ord, p.furthest)
SELECT m.ord, s.status, s.book_id, s.mode, s.host_id, s.shield_default,
       old.furthest AS old_furthest,
       old.kicked, old.shield, upd.furthest AS new_furthest,
       GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)) AS seen,
       (m.progression > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0))) AS forward,
       (m.progression > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_messages x WHERE x.session_id = m.session_id
                 AND x.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)) AND x.gate <= m.progression
                 AND x.deleted_at IS NULL AND x.author_id <> m.user_id) AS gated_m,
       (m.progression > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_reactions x WHERE x.session_id = m.session_id
                 AND x.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)) AND x.gate <= m.progression
                 AND x.author_id <> m.user_id) AS gated_r,
       (m.progression > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)))
           AND EXISTS (SELECT 1 FROM session_annotations x WHERE x.session_id = m.session_id
                 AND x.gate > GREATEST(COALESCE(old.furthest, 0),
                 COALESCE(st.state_furthest, 0)) AND x.gate <= m.progression
                 AND x.deleted_at IS NULL AND x.author_id <> m.user_id
                 AND x.visibility <> 'private') AS gated_a
FROM m LEFT JOIN s USING (ord) LEFT JOIN old USING (ord) LEFT JOIN upd USING (ord)
     LEFT JOIN st USING (ord)
"""

Move = tuple[int, int, float, "str | None", "int | None"]  # session, user, progression, ...


async def write_through(conn: Any, moves: list[Move], single_sql: str = MOVE_SQL,
                        ) -> list[tuple[Any, Advance | None]]:
    """Write moves (in the caller's transaction): the participants' rows, then the same moves
    through to the readers' reading states (`advance_many`, source `session`: THE furthest
    progression of a reader in a book moves with the session). Per move: (row, advance)."""
    if len(moves) == 1:
        rows: dict[int, Any] = {0: await conn.fetchrow(single_sql, *moves[0])}
    else:
        cols = list(zip(*moves, strict=True))
        got = await conn.fetch(_BATCH_SQL, *cols, list(range(len(moves))))
        rows = {r["ord"]: (r if r["status"] is not None else None) for r in got}
    applied = [(i, m, rows[i]) for i, m in enumerate(moves)
               if rows.get(i) is not None and rows[i]["new_furthest"] is not None]
    advances = await advance_many(conn, [
        Passive(user_id=m[1], book_id=int(row["book_id"]), progression=m[2], locator=m[3])
        for _, m, row in applied])
    out: list[tuple[Any, Advance | None]] = [(rows.get(i), None) for i in range(len(moves))]
    for i, m, row in applied:
        out[i] = (row, advances.get((m[1], int(row["book_id"]))))
    return out


class MoveWriter:
    """One per node. `write()` queues a move and waits for its row; a single task writes
    whatever is queued in one statement, then the next batch (which filled up meanwhile).
    Idle: a lone move is written at once (no timer), so batching only appears under load."""

    def __init__(self, db: Database, single_sql: str) -> None:
        self.db = db
        self.single_sql = single_sql  # the one-move statement (fallback)
        self._queue: list[tuple[Move, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.moves = 0

    async def write(self, move: Move) -> Any:
        """The statement's row for this move (None: no such session)."""
        return (await self.write_move(move))[0]

    async def write_move(self, move: Move) -> tuple[Any, Advance | None]:
        """The statement's row for this move (None: no such session) and what it did to the
        reader's reading state."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((move, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        row, reading = await fut
        return row, reading

    async def _run(self) -> None:
        while self._queue:
            batch: list[tuple[Move, asyncio.Future[Any]]] = []
            later: list[tuple[Move, asyncio.Future[Any]]] = []
            seen: set[tuple[int, int]] = set()
            for item in self._queue:
                key = (item[0][0], item[0][1])
                # a reader's second move in the same batch waits for the next one (order kept)
                if key in seen or len(batch) >= MAX_BATCH or item[1].done():
                    (later if not item[1].done() else []).append(item)
                    continue
                seen.add(key)
                batch.append(item)
            self._queue = later
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[Move, asyncio.Future[Any]]]) -> None:
        try:
            async with self.db.pool.acquire() as conn, conn.transaction():
                results = await write_through(conn, [m for m, _ in batch], self.single_sql)
            self.batches += 1
            self.moves += len(batch)
        except asyncio.CancelledError:
            for _, fut in batch:
                if not fut.done():
                    fut.cancel()
            raise
        except Exception as exc:
            if len(batch) > 1:  # e.g. a deadlock with the other node: one by one instead
                log.warning("batched position write failed; writing one by one", exc_info=True)
                for item in batch:
                    await self._write([item])
                return
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for i, (_, fut) in enumerate(batch):
            if not fut.done():
                fut.set_result(results[i])


# The same rule as `domain.social.rules.hidden_user_ids` (blocked either way ∪ muted by them),
# for many readers in one statement; tests/test_session_moves_batched.py checks they agree.
_HIDDEN_MANY_SQL = """
SELECT blocker_id AS u, blocked_id AS id FROM blocks WHERE blocker_id = ANY($1::bigint[])
UNION SELECT blocked_id, blocker_id FROM blocks WHERE blocked_id = ANY($1::bigint[])
UNION SELECT muter_id, muted_id FROM mutes WHERE muter_id = ANY($1::bigint[])
"""


class HiddenReader:
    """Reads readers' hidden-author sets; readers asking at the same time share one query
    (the same group-commit shape as MoveWriter: no timer, batches form only under load)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: dict[int, list[asyncio.Future[frozenset[int]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.queries = 0

    async def read(self, user_id: int) -> frozenset[int]:
        fut: asyncio.Future[frozenset[int]] = asyncio.get_running_loop().create_future()
        self._queue.setdefault(user_id, []).append(fut)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, {}
            try:
                rows = await self.db.pool.fetch(_HIDDEN_MANY_SQL, list(batch))
                self.queries += 1
            except BaseException as exc:
                for futs in batch.values():
                    for fut in futs:
                        if not fut.done():
                            fut.set_exception(exc) if isinstance(exc, Exception) else fut.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            found: dict[int, set[int]] = {}
            for r in rows:
                found.setdefault(int(r["u"]), set()).add(int(r["id"]))
            for uid, futs in batch.items():
                hidden = frozenset(found.get(uid, ()))
                for fut in futs:
                    if not fut.done():
                        fut.set_result(hidden)
