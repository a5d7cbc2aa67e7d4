"""Integrate: co-reading sessions' progress backfilled into the one reading state per reader."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000025"
VERSION = "1.38.0"
DESCRIPTION = "integrate: reading_states backfilled from session participants (furthest = max)"

# Before this, a session moved only session_participants.furthest; since, every session move
# writes through to reading_states (domain.reading.progress.advance_many). One state per
# (reader, book) from the sessions they joined: furthest = the max over those sessions, status
# `read` when book_readings says they finished it there, else `reading`; an existing state keeps
# its status and the larger furthest. A state made here gets its read (open, or finished) so
# later progress counts towards it. No reading_log rows: nothing was read now (stats, streaks
# and leaderboards stay as they were). Depends on m0009/m0011 (sessions, book_readings) and
# m0017 (reading).
BACKFILL_SQL = """
WITH src AS (
    SELECT p.user_id, s.book_id, max(p.furthest) AS furthest
    FROM session_participants p JOIN reading_sessions s ON s.id = p.session_id
    WHERE p.furthest IS NOT NULL
    GROUP BY p.user_id, s.book_id
)
INSERT INTO reading_states (user_id, book_id, status, furthest, furthest_at, position,
                            read_count)
SELECT src.user_id, src.book_id,
       CASE WHEN br.finished_at IS NOT NULL THEN 'read' ELSE 'reading' END,
       LEAST(GREATEST(src.furthest, 0), 1), now(), LEAST(GREATEST(src.furthest, 0), 1),
       CASE WHEN br.finished_at IS NOT NULL THEN 1 ELSE 0 END
FROM src LEFT JOIN book_readings br ON br.user_id = src.user_id AND br.book_id = src.book_id
ORDER BY src.user_id, src.book_id
ON CONFLICT (user_id, book_id) DO UPDATE
    SET furthest = GREATEST(reading_states.furthest, EXCLUDED.furthest),
        furthest_at = CASE WHEN EXCLUDED.furthest > reading_states.furthest
                      THEN EXCLUDED.furthest_at ELSE reading_states.furthest_at END;

INSERT INTO reading_reads (state_id, number, started_on, finished_on, outcome, progress)
SELECT st.id, 1, COALESCE(br.started_at, st.created_at)::date, br.finished_at::date,
       CASE WHEN st.status = 'read' THEN 'read' END, st.furthest
FROM reading_states st
LEFT JOIN book_readings br ON br.user_id = st.user_id AND br.book_id = st.book_id
WHERE st.status IN ('reading', 'read')
  AND NOT EXISTS (SELECT 1 FROM reading_reads r WHERE r.state_id = st.id)
  AND EXISTS (SELECT 1 FROM session_participants p JOIN reading_sessions s
              ON s.id = p.session_id WHERE p.user_id = st.user_id AND s.book_id = st.book_id);
"""
forwards = sql_migration(ID, DESCRIPTION, BACKFILL_SQL)
