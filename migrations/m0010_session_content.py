"""What readers make together in a session: chat messages, reactions and annotations, each gated."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000010"
VERSION = "1.38.0"
DESCRIPTION = "sessions: session_messages, session_reactions, session_annotations"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE session_messages (
    id          BIGSERIAL     PRIMARY KEY,
    session_id  BIGINT        NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    author_id   BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        TEXT          NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    gate        DOUBLE PRECISION NOT NULL CHECK (gate BETWEEN 0 AND 1),
    locator     TEXT          NULL,
    chapter     INTEGER       NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    edited_at   TIMESTAMPTZ   NULL,
    deleted_at  TIMESTAMPTZ   NULL,
    deleted_by  BIGINT        NULL
);
CREATE INDEX session_messages_session_idx ON session_messages (session_id, id);
CREATE INDEX session_messages_gate_idx ON session_messages (session_id, gate);

CREATE TABLE session_reactions (
    id          BIGSERIAL     PRIMARY KEY,
    session_id  BIGINT        NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    author_id   BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji       VARCHAR(16)   NOT NULL,
    gate        DOUBLE PRECISION NOT NULL CHECK (gate BETWEEN 0 AND 1),
    locator     TEXT          NOT NULL,
    chapter     INTEGER       NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE INDEX session_reactions_session_idx ON session_reactions (session_id, id);
CREATE INDEX session_reactions_anchor_idx ON session_reactions (session_id, locator, emoji);

CREATE TABLE session_annotations (
    id          BIGSERIAL     PRIMARY KEY,
    session_id  BIGINT        NULL REFERENCES reading_sessions (id) ON DELETE SET NULL,
    book_id     BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    author_id   BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    visibility  VARCHAR(16)   NOT NULL CHECK (visibility IN ('private', 'session', 'public')),
    selectors   JSONB         NOT NULL,
    quote       TEXT          NULL,
    note        TEXT          NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    range_start DOUBLE PRECISION NOT NULL CHECK (range_start BETWEEN 0 AND 1),
    range_end   DOUBLE PRECISION NOT NULL CHECK (range_end BETWEEN 0 AND 1),
    gate        DOUBLE PRECISION NOT NULL CHECK (gate BETWEEN 0 AND 1),
    locator     TEXT          NULL,
    chapter     INTEGER       NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ   NULL,
    CONSTRAINT session_annotations_range CHECK (range_start <= range_end)
);
CREATE INDEX session_annotations_session_idx ON session_annotations (session_id, id);
CREATE INDEX session_annotations_book_idx ON session_annotations (book_id, visibility, id);
""")
