"""Accounts: users (case-insensitively unique email and handle) and hashed refresh tokens."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "accounts: users, refresh_tokens"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE users (
    id               BIGSERIAL PRIMARY KEY,
    email            VARCHAR(254) NOT NULL,
    handle           VARCHAR(30)  NOT NULL,
    display_name     VARCHAR(60)  NOT NULL,
    password_hash    TEXT         NOT NULL,
    role             VARCHAR(16)  NOT NULL DEFAULT 'reader'
                     CHECK (role IN ('reader', 'moderator', 'admin')),
    bio              TEXT         NOT NULL DEFAULT '',
    avatar_url       TEXT         NULL,
    favourite_genres TEXT[]       NOT NULL DEFAULT '{}',
    visibility       VARCHAR(16)  NOT NULL DEFAULT 'public'
                     CHECK (visibility IN ('public', 'followers', 'private')),
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle));

CREATE TABLE refresh_tokens (
    id          BIGSERIAL    PRIMARY KEY,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family      VARCHAR(64)  NOT NULL,
    token_hash  VARCHAR(64)  NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ  NOT NULL,
    used_at     TIMESTAMPTZ  NULL,
    revoked_at  TIMESTAMPTZ  NULL,
    replaced_by BIGINT       NULL
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
""")
