"""AI round 2 and bounded catalog search: visits, book views, incremental neighbours, indexes."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000028"
VERSION = "1.38.0"
DESCRIPTION = ("ai: ai_visits, book_views, ai_dirty_states (+ triggers), book_norms; "
               "catalog: title/author and title-key search indexes")

# - ai_visits: "since your last visit" per (reader, place kind, place): the last message id the
#   reader had seen when they last came (`seen_id`) and the start of the range of their last
#   catch-up request (`asked_since`), see domain/ai/visits.py.
# - book_views: book page views per hour, flushed from Redis by the worker (trending input).
# - ai_dirty_states: (reader, book) pairs whose reading state or rating changed since the
#   neighbours were last updated; row triggers on reading_states (insert, delete, and an update
#   of status or private only: progress moves do not fire) and reviews (rating changes) record
#   them for the incremental neighbour update (domain/ai/neighbours.py).
# - book_norms: each book's squared interaction norm (the cosine's denominator), kept with the
#   neighbour lists so that an incremental update needs no full pass.
# - search: books.search_ta, the title and author lexemes of books.search (its weights A and B),
#   a column generated from it (so the catalog's write path is unchanged) with a GIN index; a
#   pattern-ops btree on title_key (exact and starts-with tiers) and a trigram index on the
#   padded title key (the phrase tier), see domain/catalog/search_ranked.py.
# Depends only on m0002 (users), m0004 (books), m0017 (reading_states, reviews), m0020
# (pg_trgm) and m0021 (ai).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE ai_visits (
    user_id      BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         VARCHAR(16)  NOT NULL,
    place_id     BIGINT       NOT NULL,
    seen_id      BIGINT       NOT NULL DEFAULT 0,
    asked_since  BIGINT       NOT NULL DEFAULT 0,
    visited_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, place_id)
);

CREATE TABLE book_views (
    book_id  BIGINT       NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    hour     TIMESTAMPTZ  NOT NULL,
    views    INTEGER      NOT NULL CHECK (views > 0),
    PRIMARY KEY (book_id, hour)
);
CREATE INDEX book_views_hour_idx ON book_views (hour);

CREATE TABLE ai_dirty_states (
    user_id  BIGINT  NOT NULL,
    book_id  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, book_id)
);

CREATE FUNCTION ai_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO ai_dirty_states (user_id, book_id) VALUES (r.user_id, r.book_id)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER reading_states_ai_dirty_ins AFTER INSERT OR DELETE ON reading_states
    FOR EACH ROW EXECUTE FUNCTION ai_mark_dirty();
CREATE TRIGGER reading_states_ai_dirty_upd AFTER UPDATE OF status, private ON reading_states
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.private IS DISTINCT FROM NEW.private)
    EXECUTE FUNCTION ai_mark_dirty();
CREATE TRIGGER reviews_ai_dirty_ins AFTER INSERT OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION ai_mark_dirty();
CREATE TRIGGER reviews_ai_dirty_upd AFTER UPDATE OF rating_quarters ON reviews
    FOR EACH ROW WHEN (OLD.rating_quarters IS DISTINCT FROM NEW.rating_quarters)
    EXECUTE FUNCTION ai_mark_dirty();

CREATE TABLE book_norms (
    book_id  BIGINT            PRIMARY KEY REFERENCES books (id) ON DELETE CASCADE,
    norm     DOUBLE PRECISION  NOT NULL
);

ALTER TABLE books ADD COLUMN search_ta TSVECTOR
    GENERATED ALWAYS AS (ts_filter(search, '{a,b}'::"char"[])) STORED;
CREATE INDEX books_search_ta_idx ON books USING GIN (search_ta);
CREATE INDEX books_title_key_pattern_idx ON books (title_key text_pattern_ops);
CREATE INDEX books_title_key_trgm_idx ON books
    USING GIN ((' ' || title_key || ' ') gin_trgm_ops);
""")
