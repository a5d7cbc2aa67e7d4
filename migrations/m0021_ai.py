"""AI in the workers: book embeddings (pgvector, HNSW), item-item neighbours, experiment logs."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000021"
VERSION = "1.38.0"
DESCRIPTION = "ai: book_embeddings (pgvector HNSW), book_neighbours, rec_events, ai_flags"

# One row per (book, model): a model change embeds the catalog again beside the old rows (search
# keeps answering from what exists), and the old model's rows are dropped once the new one is
# complete. `book_version` is the books.version that was embedded: a row whose book moved on is
# stale and the worker's sweep embeds it again. The column is a dimensionless `vector` so that
# any model fits; the HNSW index is a partial expression index on the 256-d rows (the offline
# default) - rows of another dimension are searched exactly (see README, "AI in the workers").
# External PostgreSQL needs the pgvector extension installed (the embedded server ships it).
# Depends only on m0001 (vector), m0002 (users) and m0004 (books).
forwards = sql_migration(ID, DESCRIPTION, """
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE book_embeddings (
    book_id       BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    model         VARCHAR(200)  NOT NULL,
    dim           INTEGER       NOT NULL CHECK (dim BETWEEN 1 AND 16000),
    book_version  INTEGER       NOT NULL,
    embedding     vector        NOT NULL,
    updated_at    TIMESTAMPTZ   NOT NULL DEFAULT now(),
    PRIMARY KEY (book_id, model)
);
CREATE INDEX book_embeddings_model_idx ON book_embeddings (model, book_id);
CREATE INDEX book_embeddings_hnsw_256 ON book_embeddings
    USING hnsw ((embedding::vector(256)) vector_cosine_ops) WHERE dim = 256;

-- "similar books": content and item-item collaborative scores, recomputed by the worker
CREATE TABLE book_neighbours (
    book_id       BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    neighbour_id  BIGINT            NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    score         DOUBLE PRECISION  NOT NULL,
    content       DOUBLE PRECISION  NOT NULL DEFAULT 0,
    cf            DOUBLE PRECISION  NOT NULL DEFAULT 0,
    PRIMARY KEY (book_id, neighbour_id)
);
CREATE INDEX book_neighbours_rank_idx ON book_neighbours (book_id, score DESC);

-- experiments: what each reader was shown (exposure) and what they opened (click)
CREATE TABLE rec_events (
    id            BIGSERIAL     PRIMARY KEY,
    experiment    VARCHAR(64)   NOT NULL,
    variant       VARCHAR(64)   NOT NULL,
    user_id       BIGINT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id       BIGINT        NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    kind          VARCHAR(10)   NOT NULL CHECK (kind IN ('exposure', 'click')),
    created_at    TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE INDEX rec_events_experiment_idx ON rec_events (experiment, variant, kind);

-- moderation assist: flags for the queue (never deletes anything)
CREATE TABLE ai_flags (
    id            BIGSERIAL         PRIMARY KEY,
    kind          VARCHAR(16)       NOT NULL,
    target_id     BIGINT            NOT NULL,
    score         DOUBLE PRECISION  NOT NULL,
    reasons       TEXT[]            NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ       NOT NULL DEFAULT now(),
    CONSTRAINT ai_flags_target_key UNIQUE (kind, target_id)
);
""")
