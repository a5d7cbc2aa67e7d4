"""Clubs, round 3: replies in section threads (one level), restoring hidden content with a
reason, poll result modes with a recorded close (the worker closes due polls once), and a
section's optional discussion date."""

from domain.migrate import sql_migration

ID = "2026-12-01T23:00:00:000027"
VERSION = "1.38.0"
DESCRIPTION = "clubs: thread replies, report restore with a note, poll results mode and close"

# Depends on m0022 (clubs) only. `parent_id`: a reply's top-level post (replies are one level
# deep: a reply to a reply hangs under the same post). `note`: the organiser's reason when
# resolving (required to restore). `results`: when a poll's per-option counts are shown
# (`live`: always; `after_vote`: to those who voted, and to all once closed; `after_close`).
# `closed_at`: set once, by the worker at `closes_at` or by an organiser closing early.
# `discussion_at`: a section's optional discussion date (e.g. the meeting about it).
forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE club_thread_messages ADD COLUMN parent_id BIGINT NULL
    REFERENCES club_thread_messages (id) ON DELETE CASCADE;
CREATE INDEX club_thread_messages_parent_idx ON club_thread_messages (parent_id)
    WHERE parent_id IS NOT NULL;
ALTER TABLE club_reports DROP CONSTRAINT club_reports_status_check;
ALTER TABLE club_reports ADD CONSTRAINT club_reports_status_check
    CHECK (status IN ('open', 'hidden', 'dismissed', 'banned', 'restored'));
ALTER TABLE club_reports ADD COLUMN note TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 1000);
ALTER TABLE club_reports ADD COLUMN resolved_at TIMESTAMPTZ NULL;
ALTER TABLE club_polls ADD COLUMN results VARCHAR(12) NOT NULL DEFAULT 'live'
    CHECK (results IN ('live', 'after_vote', 'after_close'));
ALTER TABLE club_polls ADD COLUMN closed_at TIMESTAMPTZ NULL;
CREATE INDEX club_polls_due_idx ON club_polls (closes_at)
    WHERE closed_at IS NULL AND closes_at IS NOT NULL;
ALTER TABLE club_sections ADD COLUMN discussion_at TIMESTAMPTZ NULL;
""")
