"""Sessions: when each reader was last seen in the room (connect or disconnect), so that a live
session everyone left can end by itself after the idle time."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000015"
VERSION = "1.38.0"
DESCRIPTION = "sessions: session_participants.last_seen_at for the idle end"

forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE session_participants ADD COLUMN IF NOT EXISTS last_seen_at TIMESTAMPTZ NULL;
""")
