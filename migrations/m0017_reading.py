"""Reading life: one reading state per (reader, book), reads, the reading log, goals, reviews."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000017"
VERSION = "1.38.0"
DESCRIPTION = ("reading: states, reads, log, prefs, goals, reviews and their aggregates, likes,"
               " comments, reports, bans, leaderboards, XP, badges")

# reading_states.furthest is THE furthest progression of a reader in a book: monotonic, moved
# only by domain.reading.progress.advance() (every source: progress updates, sessions, clubs,
# sync, finishing), read by every spoiler gate. `position` is where the reader last said they
# are (it may go back, e.g. on a re-read). Each read (first read and every re-read) is a row of
# reading_reads; reading_log keeps every update (the source of stats, streaks and goals).
# Depends only on m0002 (users) and m0004 (books).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE reading_states (
    id              BIGSERIAL         PRIMARY KEY,
    user_id         BIGINT            NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id         BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    status          VARCHAR(16)       NOT NULL
                    CHECK (status IN ('want_to_read', 'reading', 'read', 'did_not_finish')),
    shelves         TEXT[]            NOT NULL DEFAULT '{}',
    format          VARCHAR(12)       NULL CHECK (format IN ('print', 'ebook', 'audiobook')),
    owned           BOOLEAN           NOT NULL DEFAULT false,
    private         BOOLEAN           NOT NULL DEFAULT false,
    total_pages     INTEGER           NULL CHECK (total_pages > 0),
    furthest        DOUBLE PRECISION  NOT NULL DEFAULT 0 CHECK (furthest BETWEEN 0 AND 1),
    furthest_locator TEXT             NULL,
    furthest_at     TIMESTAMPTZ       NULL,
    position        DOUBLE PRECISION  NULL CHECK (position BETWEEN 0 AND 1),
    locator         TEXT              NULL,
    read_count      INTEGER           NOT NULL DEFAULT 0 CHECK (read_count >= 0),
    created_at      TIMESTAMPTZ       NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT reading_states_pair_key UNIQUE (user_id, book_id)
);
CREATE INDEX reading_states_user_idx ON reading_states (user_id, updated_at DESC, id DESC);
CREATE INDEX reading_states_shelves_idx ON reading_states USING GIN (shelves);
CREATE INDEX reading_states_book_idx ON reading_states (book_id, user_id);

CREATE TABLE reading_reads (
    id           BIGSERIAL         PRIMARY KEY,
    state_id     BIGINT            NOT NULL REFERENCES reading_states (id) ON DELETE CASCADE,
    number       INTEGER           NOT NULL CHECK (number >= 1),
    started_on   DATE              NULL,
    finished_on  DATE              NULL,
    outcome      VARCHAR(16)       NULL CHECK (outcome IN ('read', 'did_not_finish')),
    progress     DOUBLE PRECISION  NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    created_at   TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT reading_reads_number_key UNIQUE (state_id, number)
);
CREATE UNIQUE INDEX reading_reads_open_key ON reading_reads (state_id) WHERE outcome IS NULL;
CREATE INDEX reading_reads_finished_idx ON reading_reads (finished_on) WHERE outcome = 'read';

CREATE TABLE reading_log (
    id              BIGSERIAL         PRIMARY KEY,
    user_id         BIGINT            NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id         BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    state_id        BIGINT            NOT NULL REFERENCES reading_states (id) ON DELETE CASCADE,
    read_id         BIGINT            NULL REFERENCES reading_reads (id) ON DELETE SET NULL,
    source          VARCHAR(16)       NOT NULL
                    CHECK (source IN ('progress', 'session', 'club', 'sync', 'import', 'status')),
    progression     DOUBLE PRECISION  NOT NULL CHECK (progression BETWEEN 0 AND 1),
    page            INTEGER           NULL,
    locator         TEXT              NULL,
    furthest_before DOUBLE PRECISION  NOT NULL,
    furthest_after  DOUBLE PRECISION  NOT NULL,
    gain            DOUBLE PRECISION  NOT NULL DEFAULT 0 CHECK (gain >= 0),
    pages           INTEGER           NOT NULL DEFAULT 0 CHECK (pages >= 0),
    created_at      TIMESTAMPTZ       NOT NULL DEFAULT now()
);
CREATE INDEX reading_log_user_idx ON reading_log (user_id, created_at DESC, id DESC);
CREATE INDEX reading_log_state_idx ON reading_log (state_id, created_at DESC, id DESC);

CREATE TABLE reading_prefs (
    user_id     BIGINT        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    time_zone   VARCHAR(64)   NOT NULL DEFAULT 'UTC',
    updated_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);

CREATE TABLE reading_goals (
    id          BIGSERIAL     PRIMARY KEY,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    year        INTEGER       NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    books       INTEGER       NULL CHECK (books BETWEEN 1 AND 100000),
    pages       INTEGER       NULL CHECK (pages BETWEEN 1 AND 100000000),
    reached_at  TIMESTAMPTZ   NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT reading_goals_year_key UNIQUE (user_id, year),
    CONSTRAINT reading_goals_some_target CHECK (books IS NOT NULL OR pages IS NOT NULL)
);

-- Reviews: one per read. `gate` is the reviewer's furthest progression when they wrote or last
-- edited it: readers below it get the redacted variant of a flagged or spoiler-span review.
-- Bodies are rendered once at write time (full and redacted HTML; domain/reading/markup.py).
CREATE TABLE reviews (
    id              BIGSERIAL         PRIMARY KEY,
    user_id         BIGINT            NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id         BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    read_id         BIGINT            NULL REFERENCES reading_reads (id) ON DELETE SET NULL,
    rating_quarters SMALLINT          NULL CHECK (rating_quarters BETWEEN 2 AND 20),
    body            TEXT              NOT NULL DEFAULT '',
    body_html       TEXT              NOT NULL DEFAULT '',
    redacted_html   TEXT              NOT NULL DEFAULT '',
    spoiler         BOOLEAN           NOT NULL DEFAULT false,
    spoiler_spans   BOOLEAN           NOT NULL DEFAULT false,
    gate            DOUBLE PRECISION  NOT NULL DEFAULT 0 CHECK (gate BETWEEN 0 AND 1),
    likes           INTEGER           NOT NULL DEFAULT 0 CHECK (likes >= 0),
    comments        INTEGER           NOT NULL DEFAULT 0 CHECK (comments >= 0),
    hidden_at       TIMESTAMPTZ       NULL,
    hidden_reason   TEXT              NULL,
    hidden_by       BIGINT            NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ       NOT NULL DEFAULT now(),
    edited_at       TIMESTAMPTZ       NULL,
    CONSTRAINT reviews_read_key UNIQUE (read_id)
);
CREATE INDEX reviews_book_idx ON reviews (book_id, created_at DESC, id DESC);
CREATE INDEX reviews_user_idx ON reviews (user_id, created_at DESC, id DESC);

CREATE TABLE review_edits (
    id              BIGSERIAL     PRIMARY KEY,
    review_id       BIGINT        NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    body            TEXT          NOT NULL,
    rating_quarters SMALLINT      NULL,
    spoiler         BOOLEAN       NOT NULL,
    replaced_at     TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE INDEX review_edits_review_idx ON review_edits (review_id, id);

-- The book's rating aggregate over visible (not hidden) reviews with a rating; changed by
-- increments in the transaction that changes the review, so concurrent writers serialise on
-- the book's row. histogram[i] counts ratings of i half stars (quarters rounded half up).
CREATE TABLE rating_aggregates (
    book_id       BIGINT     PRIMARY KEY REFERENCES books (id) ON DELETE CASCADE,
    count         INTEGER    NOT NULL DEFAULT 0 CHECK (count >= 0),
    sum_quarters  BIGINT     NOT NULL DEFAULT 0 CHECK (sum_quarters >= 0),
    histogram     INTEGER[]  NOT NULL DEFAULT array_fill(0, ARRAY[10])
);

CREATE TABLE review_likes (
    review_id   BIGINT        NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, user_id)
);

CREATE TABLE review_comments (
    id          BIGSERIAL     PRIMARY KEY,
    review_id   BIGINT        NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    author_id   BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        TEXT          NOT NULL,
    body_html   TEXT          NOT NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    deleted_at  TIMESTAMPTZ   NULL
);
CREATE INDEX review_comments_review_idx ON review_comments (review_id, created_at, id);

CREATE TABLE review_reports (
    id           BIGSERIAL     PRIMARY KEY,
    review_id    BIGINT        NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    reporter_id  BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason       VARCHAR(16)   NOT NULL
                 CHECK (reason IN ('spam', 'abuse', 'spoiler', 'off_topic', 'other')),
    note         VARCHAR(500)  NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    resolved_at  TIMESTAMPTZ   NULL,
    resolved_by  BIGINT        NULL REFERENCES users (id) ON DELETE SET NULL,
    resolution   VARCHAR(16)   NULL CHECK (resolution IN ('hidden', 'dismissed')),
    CONSTRAINT review_reports_pair_key UNIQUE (review_id, reporter_id)
);
CREATE INDEX review_reports_open_idx ON review_reports (created_at, id) WHERE resolved_at IS NULL;

CREATE TABLE review_bans (
    user_id     BIGINT        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    reason      VARCHAR(500)  NOT NULL,
    banned_by   BIGINT        NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);

-- Leaderboard records (canonical; Redis sorted sets are derived and rebuilt from these). One
-- bucket per reset period: period_end is the period's end in unix seconds (0: never resets).
CREATE TABLE leaderboard_records (
    board       VARCHAR(40)   NOT NULL,
    period_end  BIGINT        NOT NULL,
    owner_id    BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    score       BIGINT        NOT NULL DEFAULT 0 CHECK (score >= 0),
    subscore    BIGINT        NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (board, period_end, owner_id)
);
CREATE INDEX leaderboard_records_owner_idx ON leaderboard_records (owner_id);

-- XP per (reader, UTC day, kind), capped per day; badges granted once per reader.
CREATE TABLE xp_ledger (
    user_id  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day      DATE         NOT NULL,
    kind     VARCHAR(16)  NOT NULL,
    amount   INTEGER      NOT NULL DEFAULT 0 CHECK (amount >= 0),
    PRIMARY KEY (user_id, day, kind)
);
CREATE TABLE user_badges (
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    badge       VARCHAR(40)   NOT NULL,
    awarded_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, badge)
);
CREATE INDEX user_badges_badge_idx ON user_badges (badge);
""")
