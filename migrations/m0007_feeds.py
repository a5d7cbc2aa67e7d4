"""Activity feeds: the activities table (source of truth; Redis home feeds are derived from it)."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000007"
VERSION = "1.38.0"
DESCRIPTION = "feeds: activities"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE activities (
    id           BIGSERIAL    PRIMARY KEY,
    actor_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    verb         VARCHAR(40)  NOT NULL,
    object_kind  VARCHAR(30)  NOT NULL DEFAULT '',
    object_id    VARCHAR(64)  NOT NULL DEFAULT '',
    payload      JSONB        NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX activities_actor_idx ON activities (actor_id, id DESC);
""")
