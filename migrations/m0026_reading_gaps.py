"""Reading life gaps: goals over a custom period, and co-reading minutes credited once."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000026"
VERSION = "1.38.0"
DESCRIPTION = "readgaps: reading_period_goals, coreading_credits, coreading_clock"

# A period goal: books and/or pages between two local dates (both included), beside the yearly
# reading_goals. Co-reading minutes come from session attendance (session_participants.
# seconds_present): coreading_credits keeps what of a (session, reader) was credited already
# (credits are differences, so a leave and a later end never count a second twice), and
# coreading_clock is the instant up to which a reader's co-reading time was credited (two
# sessions at once count the wall-clock time once). Depends on m0002 (users), m0009 (sessions).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE reading_period_goals (
    id          BIGSERIAL     PRIMARY KEY,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        VARCHAR(100)  NULL,
    starts_on   DATE          NOT NULL,
    ends_on     DATE          NOT NULL,
    books       INTEGER       NULL CHECK (books BETWEEN 1 AND 100000),
    pages       INTEGER       NULL CHECK (pages BETWEEN 1 AND 100000000),
    reached_at  TIMESTAMPTZ   NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT reading_period_goals_dates CHECK (ends_on >= starts_on
                                                 AND ends_on - starts_on <= 3660),
    CONSTRAINT reading_period_goals_some_target CHECK (books IS NOT NULL OR pages IS NOT NULL)
);
CREATE INDEX reading_period_goals_user_idx ON reading_period_goals (user_id, ends_on);

CREATE TABLE coreading_credits (
    session_id  BIGINT        NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seconds     INTEGER       NOT NULL DEFAULT 0 CHECK (seconds >= 0),
    updated_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE coreading_clock (
    user_id         BIGINT       PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    credited_until  TIMESTAMPTZ  NOT NULL
);
""")
