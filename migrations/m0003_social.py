"""The social graph: follows (accepted or pending), blocks and mutes between users."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "social: follows, blocks, mutes"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE follows (
    id          BIGSERIAL    PRIMARY KEY,
    follower_id BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      VARCHAR(16)  NOT NULL DEFAULT 'accepted'
                CHECK (status IN ('accepted', 'pending')),
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id, status, created_at DESC, id DESC);
CREATE INDEX follows_follower_idx ON follows (follower_id, status, created_at DESC, id DESC);

CREATE TABLE blocks (
    id          BIGSERIAL    PRIMARY KEY,
    blocker_id  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT blocks_pair_key UNIQUE (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id, blocker_id);

CREATE TABLE mutes (
    id          BIGSERIAL    PRIMARY KEY,
    muter_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    muted_id    BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT mutes_pair_key UNIQUE (muter_id, muted_id),
    CONSTRAINT mutes_not_self CHECK (muter_id <> muted_id)
);
""")
