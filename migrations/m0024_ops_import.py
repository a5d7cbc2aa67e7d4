"""Ops: provenance of imported catalog rows (Open Library keys) and import runs with progress."""

from domain.migrate import sql_migration

ID = "2026-12-01T21:30:00:000024"
VERSION = "1.38.0"
DESCRIPTION = "ops: books/authors ol_key + source, import_runs"

# ol_key: the dump's key (/books/OL1M, /authors/OL1A); unique so a re-run updates, never
# duplicates. source: where a row came from ('openlibrary'; NULL for rows made here).
forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE books ADD COLUMN ol_key TEXT NULL, ADD COLUMN ol_work_key TEXT NULL,
                  ADD COLUMN source VARCHAR(32) NULL;
CREATE UNIQUE INDEX books_ol_key_key ON books (ol_key);
ALTER TABLE authors ADD COLUMN ol_key TEXT NULL;
CREATE UNIQUE INDEX authors_ol_key_key ON authors (ol_key);
CREATE TABLE import_runs (
    id           BIGSERIAL    PRIMARY KEY,
    kind         VARCHAR(32)  NOT NULL,
    path         TEXT         NOT NULL,
    status       VARCHAR(16)  NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'done', 'failed')),
    lines_read   BIGINT       NOT NULL DEFAULT 0,
    books        BIGINT       NOT NULL DEFAULT 0,
    authors      BIGINT       NOT NULL DEFAULT 0,
    malformed    BIGINT       NOT NULL DEFAULT 0,
    problems     JSONB        NOT NULL DEFAULT '[]'::jsonb,
    started_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ  NULL
);
""")
