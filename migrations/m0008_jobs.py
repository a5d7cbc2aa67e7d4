"""Background jobs: failed_jobs keeps every job that ran out of retries, with its error."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000008"
VERSION = "1.38.0"
DESCRIPTION = "jobs: failed_jobs"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE failed_jobs (
    id         BIGSERIAL    PRIMARY KEY,
    job_id     VARCHAR(200) NOT NULL,
    function   VARCHAR(100) NOT NULL,
    args       TEXT         NOT NULL DEFAULT '',
    tries      INTEGER      NOT NULL,
    error      TEXT         NOT NULL,
    failed_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX failed_jobs_failed_at_idx ON failed_jobs (failed_at DESC, id DESC);
""")
