"""Links between sessions and the social side: annotation replies, reactions to annotations,
session invitations, and the once-per-book started/finished marks behind feed activities."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000011"
VERSION = "1.38.0"
DESCRIPTION = "sessions: annotation parent, reaction annotation, invitations, book_readings"

forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE session_annotations
    ADD COLUMN parent_id BIGINT NULL REFERENCES session_annotations (id) ON DELETE SET NULL;
CREATE INDEX session_annotations_parent_idx ON session_annotations (parent_id)
    WHERE parent_id IS NOT NULL;

ALTER TABLE session_reactions
    ADD COLUMN annotation_id BIGINT NULL REFERENCES session_annotations (id) ON DELETE SET NULL;
CREATE INDEX session_reactions_annotation_idx ON session_reactions (annotation_id)
    WHERE annotation_id IS NOT NULL;

CREATE TABLE session_invitations (
    id          BIGSERIAL     PRIMARY KEY,
    session_id  BIGINT        NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by  BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT session_invitations_pair_key UNIQUE (session_id, user_id)
);
CREATE INDEX session_invitations_user_idx ON session_invitations (user_id, session_id);

CREATE TABLE book_readings (
    id          BIGSERIAL     PRIMARY KEY,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id     BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    started_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ   NULL,
    CONSTRAINT book_readings_pair_key UNIQUE (user_id, book_id)
);
""")
