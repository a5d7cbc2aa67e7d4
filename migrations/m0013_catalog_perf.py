"""Catalog search caching: a catalog version that every write to `books` bumps in its transaction."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000013"
VERSION = "1.38.0"
DESCRIPTION = "catalog: catalog_state.version, bumped by a statement trigger on books"

# Search caches total, facets and first pages in Redis under this version. Every catalog write
# (create, edit, delete, demo COPY, even raw SQL) touches `books`, so a statement-level trigger
# bumps the version inside the writing transaction: a reader that sees the new version also sees
# the new rows, and cached results of older versions are simply never read again. Writes to books
# serialise on this one row until they commit (catalog edits are rare, moderator-only).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE catalog_state (
    id       INTEGER  PRIMARY KEY CHECK (id = 1),
    version  BIGINT   NOT NULL
);
INSERT INTO catalog_state (id, version) VALUES (1, 1);

CREATE FUNCTION catalog_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_state SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER books_bump_catalog_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON books
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_bump_version();
""")
