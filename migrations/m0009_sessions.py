"""Co-reading sessions and their participants (positions, furthest progression, host powers)."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000009"
VERSION = "1.38.0"
DESCRIPTION = "sessions: reading_sessions, session_participants"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE reading_sessions (
    id              BIGSERIAL     PRIMARY KEY,
    book_id         BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    host_id         BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by      BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           VARCHAR(120)  NOT NULL,
    mode            VARCHAR(8)    NOT NULL CHECK (mode IN ('follow', 'free')),
    visibility      VARCHAR(16)   NOT NULL CHECK (visibility IN ('public', 'followers', 'invite')),
    invite_code     VARCHAR(32)   NULL,
    capacity        INTEGER       NOT NULL DEFAULT 50 CHECK (capacity BETWEEN 1 AND 1000),
    status          VARCHAR(12)   NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN ('scheduled', 'live', 'ended')),
    chat_locked     BOOLEAN       NOT NULL DEFAULT false,
    shield_default  BOOLEAN       NOT NULL DEFAULT true,
    scheduled_at    TIMESTAMPTZ   NULL,
    started_at      TIMESTAMPTZ   NULL,
    ended_at        TIMESTAMPTZ   NULL,
    host_progression DOUBLE PRECISION NULL,
    host_locator    TEXT          NULL,
    host_chapter    INTEGER       NULL,
    created_at      TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE INDEX reading_sessions_status_idx ON reading_sessions (status, scheduled_at, id);
CREATE INDEX reading_sessions_host_idx ON reading_sessions (host_id, id DESC);
CREATE INDEX reading_sessions_book_idx ON reading_sessions (book_id, id DESC);

CREATE TABLE session_participants (
    id              BIGSERIAL     PRIMARY KEY,
    session_id      BIGINT        NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    user_id         BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at       TIMESTAMPTZ   NOT NULL DEFAULT now(),
    present_since   TIMESTAMPTZ   NULL,
    connections     INTEGER       NOT NULL DEFAULT 0,
    seconds_present INTEGER       NOT NULL DEFAULT 0,
    progression     DOUBLE PRECISION NULL CHECK (progression BETWEEN 0 AND 1),
    start_progression DOUBLE PRECISION NULL CHECK (start_progression BETWEEN 0 AND 1),
    furthest        DOUBLE PRECISION NULL CHECK (furthest BETWEEN 0 AND 1),
    locator         TEXT          NULL,
    chapter         INTEGER       NULL,
    shield          BOOLEAN       NULL,
    muted           BOOLEAN       NOT NULL DEFAULT false,
    kicked          BOOLEAN       NOT NULL DEFAULT false,
    CONSTRAINT session_participants_pair_key UNIQUE (session_id, user_id)
);
CREATE INDEX session_participants_user_idx ON session_participants (user_id, session_id);
""")
