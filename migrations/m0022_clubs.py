"""Book clubs: clubs, members, bans, join requests, invitation links, the reading schedule
(sections), and the discussion tables of club chat and section threads."""

from domain.migrate import sql_migration

ID = "2026-12-01T21:00:00:000022"
VERSION = "1.38.0"
DESCRIPTION = "clubs: clubs, members, bans, requests, invites, sections, chat and thread content"

# The content tables (club_* and club_thread_*) have the columns of session_messages /
# session_reactions / session_annotations (m0010, m0011, m0014): domain.discussion writes them.
_CONTENT = """
CREATE TABLE {p}_messages (
    id          BIGSERIAL     PRIMARY KEY,
    {col}       BIGINT        NOT NULL REFERENCES {parent} (id) ON DELETE CASCADE,
    author_id   BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        TEXT          NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    gate        DOUBLE PRECISION NOT NULL CHECK (gate BETWEEN 0 AND 1),
    locator     TEXT          NULL,
    chapter     INTEGER       NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    edited_at   TIMESTAMPTZ   NULL,
    deleted_at  TIMESTAMPTZ   NULL,
    deleted_by  BIGINT        NULL,
    client_key  VARCHAR(100)  NULL
);
CREATE INDEX {p}_messages_place_idx ON {p}_messages ({col}, id);
CREATE INDEX {p}_messages_gate_idx ON {p}_messages ({col}, gate);
CREATE UNIQUE INDEX {p}_messages_client_key ON {p}_messages (author_id, client_key)
    WHERE client_key IS NOT NULL;
CREATE TABLE {p}_annotations (
    id          BIGSERIAL     PRIMARY KEY,
    {col}       BIGINT        NULL REFERENCES {parent} (id) ON DELETE CASCADE,
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
    parent_id   BIGINT        NULL REFERENCES {p}_annotations (id) ON DELETE CASCADE,
    gate_at     VARCHAR(8)    NOT NULL DEFAULT 'progress'
        CHECK (gate_at IN ('progress', 'passage')),
    client_key  VARCHAR(100)  NULL,
    CONSTRAINT {p}_annotations_range CHECK (range_start <= range_end)
);
CREATE INDEX {p}_annotations_place_idx ON {p}_annotations ({col}, id);
CREATE INDEX {p}_annotations_book_idx ON {p}_annotations (book_id, visibility, id);
CREATE UNIQUE INDEX {p}_annotations_client_key ON {p}_annotations (author_id, client_key)
    WHERE client_key IS NOT NULL;
CREATE TABLE {p}_reactions (
    id            BIGSERIAL     PRIMARY KEY,
    {col}         BIGINT        NOT NULL REFERENCES {parent} (id) ON DELETE CASCADE,
    author_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji         VARCHAR(16)   NOT NULL,
    gate          DOUBLE PRECISION NOT NULL CHECK (gate BETWEEN 0 AND 1),
    locator       TEXT          NOT NULL,
    chapter       INTEGER       NULL,
    created_at    TIMESTAMPTZ   NOT NULL DEFAULT now(),
    annotation_id BIGINT        NULL REFERENCES {p}_annotations (id) ON DELETE CASCADE,
    client_key    VARCHAR(100)  NULL
);
CREATE INDEX {p}_reactions_place_idx ON {p}_reactions ({col}, id);
CREATE INDEX {p}_reactions_anchor_idx ON {p}_reactions ({col}, locator, emoji);
CREATE UNIQUE INDEX {p}_reactions_client_key ON {p}_reactions (author_id, client_key)
    WHERE client_key IS NOT NULL;
"""

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE clubs (
    id           BIGSERIAL     PRIMARY KEY,
    slug         VARCHAR(60)   NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$'),
    name         VARCHAR(120)  NOT NULL CHECK (length(name) >= 1),
    description  TEXT          NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    cover_url    TEXT          NULL,
    visibility   VARCHAR(8)    NOT NULL CHECK (visibility IN ('public', 'private', 'secret')),
    join_policy  VARCHAR(12)   NOT NULL CHECK (join_policy IN ('open', 'approval', 'invitation')),
    member_cap   INTEGER       NULL CHECK (member_cap >= 1),
    rules        TEXT          NOT NULL DEFAULT '' CHECK (length(rules) <= 8000),
    language     VARCHAR(16)   NULL,
    time_zone    VARCHAR(64)   NOT NULL DEFAULT 'UTC',
    owner_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    book_id      BIGINT        NULL REFERENCES books (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    active_at    TIMESTAMPTZ   NOT NULL DEFAULT now(),
    search       TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(name, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(description, '')), 'B')) STORED
);
CREATE INDEX clubs_search_idx ON clubs USING GIN (search);
CREATE INDEX clubs_directory_idx ON clubs (visibility, active_at DESC, id DESC);
CREATE INDEX clubs_book_idx ON clubs (book_id) WHERE book_id IS NOT NULL;

CREATE TABLE club_books (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    book_id     BIGINT       NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    started_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ  NULL
);
CREATE UNIQUE INDEX club_books_current ON club_books (club_id) WHERE finished_at IS NULL;

CREATE TABLE club_members (
    club_id    BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       VARCHAR(10)  NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    muted      BOOLEAN      NOT NULL DEFAULT false,
    joined_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (club_id, user_id)
);
CREATE INDEX club_members_user_idx ON club_members (user_id, club_id);

CREATE TABLE club_bans (
    club_id    BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by  BIGINT       NULL REFERENCES users (id) ON DELETE SET NULL,
    reason     TEXT         NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (club_id, user_id)
);

CREATE TABLE club_join_requests (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message     TEXT         NOT NULL DEFAULT '' CHECK (length(message) <= 1000),
    status      VARCHAR(10)  NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'declined')),
    decided_by  BIGINT       NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    decided_at  TIMESTAMPTZ  NULL
);
CREATE UNIQUE INDEX club_join_requests_pending ON club_join_requests (club_id, user_id)
    WHERE status = 'pending';

CREATE TABLE club_invites (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    token       VARCHAR(64)  NOT NULL UNIQUE,
    created_by  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  TIMESTAMPTZ  NULL,
    max_uses    INTEGER      NULL CHECK (max_uses >= 1),
    uses        INTEGER      NOT NULL DEFAULT 0,
    revoked     BOOLEAN      NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE club_sections (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    book_id     BIGINT       NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    position    INTEGER      NOT NULL,
    title       VARCHAR(200) NOT NULL,
    range_start DOUBLE PRECISION NOT NULL CHECK (range_start BETWEEN 0 AND 1),
    range_end   DOUBLE PRECISION NOT NULL CHECK (range_end BETWEEN 0 AND 1),
    opens_at    TIMESTAMPTZ  NOT NULL,
    opened_at   TIMESTAMPTZ  NULL,
    thread_locked BOOLEAN    NOT NULL DEFAULT false,
    pinned_message_id BIGINT NULL,
    CONSTRAINT club_sections_range CHECK (range_start < range_end),
    UNIQUE (club_id, book_id, position)
);
CREATE INDEX club_sections_due_idx ON club_sections (opens_at) WHERE opened_at IS NULL;

CREATE TABLE club_reports (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    place_kind  VARCHAR(12)  NOT NULL CHECK (place_kind IN ('club', 'club_thread')),
    place_id    BIGINT       NOT NULL,
    message_id  BIGINT       NOT NULL,
    author_id   BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reporter_id BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT         NOT NULL DEFAULT '' CHECK (length(reason) <= 1000),
    status      VARCHAR(10)  NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'hidden', 'dismissed', 'banned')),
    resolved_by BIGINT       NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    UNIQUE (place_kind, message_id, reporter_id)
);
CREATE INDEX club_reports_queue_idx ON club_reports (club_id, status, id);

CREATE TABLE club_events (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    title       VARCHAR(200) NOT NULL,
    description TEXT         NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    kind        VARCHAR(12)  NOT NULL
        CHECK (kind IN ('discussion', 'qa', 'meetup', 'coreading')),
    starts_at   TIMESTAMPTZ  NOT NULL,
    ends_at     TIMESTAMPTZ  NOT NULL,
    time_zone   VARCHAR(64)  NOT NULL DEFAULT 'UTC',
    location    TEXT         NOT NULL DEFAULT '',
    url         TEXT         NULL,
    capacity    INTEGER      NULL CHECK (capacity >= 1),
    sequence    INTEGER      NOT NULL DEFAULT 0,
    session_id  BIGINT       NULL REFERENCES reading_sessions (id) ON DELETE SET NULL,
    status      VARCHAR(10)  NOT NULL DEFAULT 'confirmed'
        CHECK (status IN ('confirmed', 'cancelled')),
    created_by  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT club_events_times CHECK (starts_at < ends_at)
);
CREATE INDEX club_events_club_idx ON club_events (club_id, starts_at);
CREATE INDEX club_events_due_idx ON club_events (starts_at) WHERE status = 'confirmed';
CREATE TABLE club_rsvps (
    event_id   BIGINT       NOT NULL REFERENCES club_events (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    answer     VARCHAR(6)   NOT NULL CHECK (answer IN ('going', 'maybe', 'no')),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE TABLE club_event_reminders (
    event_id   BIGINT       NOT NULL REFERENCES club_events (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lead       VARCHAR(4)   NOT NULL,
    PRIMARY KEY (event_id, user_id, lead)
);
CREATE TABLE club_calendar_tokens (
    token      VARCHAR(64)  PRIMARY KEY,
    club_id    BIGINT       NULL REFERENCES clubs (id) ON DELETE CASCADE,
    user_id    BIGINT       NULL REFERENCES users (id) ON DELETE CASCADE,
    UNIQUE (club_id, user_id)
);
CREATE TABLE club_polls (
    id          BIGSERIAL    PRIMARY KEY,
    club_id     BIGINT       NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    question    VARCHAR(300) NOT NULL,
    multiple    BOOLEAN      NOT NULL DEFAULT false,
    anonymous   BOOLEAN      NOT NULL DEFAULT true,
    closes_at   TIMESTAMPTZ  NULL,
    created_by  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE TABLE club_poll_options (
    id        BIGSERIAL    PRIMARY KEY,
    poll_id   BIGINT       NOT NULL REFERENCES club_polls (id) ON DELETE CASCADE,
    position  INTEGER      NOT NULL,
    label     VARCHAR(200) NOT NULL,
    book_id   BIGINT       NULL REFERENCES books (id) ON DELETE SET NULL,
    UNIQUE (poll_id, position)
);
CREATE TABLE club_poll_votes (
    poll_id    BIGINT       NOT NULL REFERENCES club_polls (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    option_id  BIGINT       NOT NULL REFERENCES club_poll_options (id) ON DELETE CASCADE,
    voted_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (poll_id, user_id, option_id)
);
""" + _CONTENT.format(p="club", col="club_id", parent="clubs")
    + _CONTENT.format(p="club_thread", col="section_id", parent="club_sections"))
