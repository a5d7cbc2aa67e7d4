"""The catalog: books (ISBNs, version, weighted search vector), authors, subjects, chapters."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000004"
VERSION = "1.38.0"
DESCRIPTION = "catalog: books, authors, subjects, book_chapters"

# books.search is a stored weighted tsvector (title A, authors B, subjects C, description D).
# It spans several tables, so it cannot be a GENERATED column: the catalog use-cases rebuild it
# in the same transaction as every write (domain/catalog/store.py, REFRESH_SEARCH).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE books (
    id              BIGSERIAL     PRIMARY KEY,
    title           VARCHAR(500)  NOT NULL CHECK (btrim(title) <> ''),
    title_key       TEXT          NOT NULL,
    subtitle        VARCHAR(500)  NULL,
    language        VARCHAR(35)   NOT NULL DEFAULT 'en',
    isbn13          VARCHAR(13)   NULL CHECK (isbn13 ~ '^97[89][0-9]{10}$'),
    isbn10          VARCHAR(10)   NULL CHECK (isbn10 ~ '^[0-9]{9}[0-9X]$'),
    page_count      INTEGER       NULL CHECK (page_count > 0),
    publisher       VARCHAR(200)  NULL,
    published       VARCHAR(10)   NULL,
    published_year  INTEGER       NULL,
    description     TEXT          NOT NULL DEFAULT '',
    cover_url       TEXT          NULL,
    version         INTEGER       NOT NULL DEFAULT 1,
    search          TSVECTOR      NOT NULL DEFAULT ''::tsvector,
    created_at      TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX books_isbn13_key ON books (isbn13);
CREATE UNIQUE INDEX books_isbn10_key ON books (isbn10);
CREATE INDEX books_search_idx ON books USING GIN (search);
CREATE INDEX books_title_idx ON books (title, id);
CREATE INDEX books_year_idx ON books (published_year);
CREATE INDEX books_language_idx ON books (language);

CREATE TABLE authors (
    id          BIGSERIAL     PRIMARY KEY,
    name        VARCHAR(200)  NOT NULL CHECK (btrim(name) <> ''),
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX authors_name_lower_key ON authors (lower(name));

CREATE TABLE book_authors (
    id         BIGSERIAL  PRIMARY KEY,
    book_id    BIGINT     NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    author_id  BIGINT     NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    position   INTEGER    NOT NULL CHECK (position >= 0),
    CONSTRAINT book_authors_pair_key UNIQUE (book_id, author_id),
    CONSTRAINT book_authors_position_key UNIQUE (book_id, position)
);
CREATE INDEX book_authors_author_idx ON book_authors (author_id, book_id);

CREATE TABLE subjects (
    id    BIGSERIAL     PRIMARY KEY,
    name  VARCHAR(100)  NOT NULL CHECK (btrim(name) <> '')
);
CREATE UNIQUE INDEX subjects_name_lower_key ON subjects (lower(name));

CREATE TABLE book_subjects (
    id          BIGSERIAL  PRIMARY KEY,
    book_id     BIGINT     NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    subject_id  BIGINT     NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    CONSTRAINT book_subjects_pair_key UNIQUE (book_id, subject_id)
);
CREATE INDEX book_subjects_subject_idx ON book_subjects (subject_id, book_id);

CREATE TABLE book_chapters (
    id        BIGSERIAL         PRIMARY KEY,
    book_id   BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    position  INTEGER           NOT NULL CHECK (position >= 0),
    title     VARCHAR(300)      NOT NULL,
    start     DOUBLE PRECISION  NOT NULL CHECK (start >= 0 AND start < 1),
    CONSTRAINT book_chapters_position_key UNIQUE (book_id, position)
);
""")
