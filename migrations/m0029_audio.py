"""Audio stages: speaking time per place and speaker (never any audio)."""

from domain.migrate import sql_migration

ID = "2026-12-01T23:00:00:000029"
VERSION = "1.38.0"
DESCRIPTION = "audio: stage_speaking (seconds each speaker spoke on a stage, per place)"

# `place` is the room a stage belongs to (`session:<id>` or `club_event:<id>`); the session
# record reads it for `session:<id>`. Depends on m0002 (users) only.
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE stage_speaking (
    place      VARCHAR(64)  NOT NULL,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seconds    INTEGER      NOT NULL DEFAULT 0 CHECK (seconds >= 0),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (place, user_id)
);
""")
