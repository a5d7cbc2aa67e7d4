"""Accounts: email verification, one-time tokens (reset, verify, email change), TOTP 2FA,
identity-provider links."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000023"
VERSION = "1.38.0"
DESCRIPTION = "accounts: email_verified_at, account_tokens, totp, identities"

# Accounts that existed before verification was introduced keep receiving email: they count as
# verified from their creation. New registrations start unverified (NULL).
forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ NULL;
ALTER TABLE users ADD COLUMN suspended_at TIMESTAMPTZ NULL;
ALTER TABLE users ADD COLUMN suspended_reason TEXT NULL;
ALTER TABLE users ADD COLUMN avatar_key TEXT NULL;
-- false for an account made by a provider sign-in until its owner sets a password
ALTER TABLE users ADD COLUMN has_password BOOLEAN NOT NULL DEFAULT true;
UPDATE users SET email_verified_at = created_at;

CREATE TABLE account_tokens (
    id          BIGSERIAL    PRIMARY KEY,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     VARCHAR(16)  NOT NULL CHECK (purpose IN ('reset', 'verify', 'email_change')),
    token_hash  VARCHAR(64)  NOT NULL UNIQUE,
    new_email   VARCHAR(254) NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ  NOT NULL,
    used_at     TIMESTAMPTZ  NULL
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

CREATE TABLE user_totp (
    user_id        BIGINT       PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc     TEXT         NOT NULL,
    confirmed_at   TIMESTAMPTZ  NULL,
    last_step      BIGINT       NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE user_recovery_codes (
    id          BIGSERIAL    PRIMARY KEY,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   VARCHAR(64)  NOT NULL,
    used_at     TIMESTAMPTZ  NULL,
    UNIQUE (user_id, code_hash)
);

CREATE TABLE user_identities (
    id          BIGSERIAL    PRIMARY KEY,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer      TEXT         NOT NULL,
    subject     TEXT         NOT NULL,
    email       VARCHAR(254) NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

CREATE TABLE user_passkeys (
    id             BIGSERIAL    PRIMARY KEY,
    user_id        BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BYTEA        NOT NULL UNIQUE,
    public_key     BYTEA        NOT NULL,
    sign_count     BIGINT       NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_used_at   TIMESTAMPTZ  NULL
);
CREATE INDEX user_passkeys_user_idx ON user_passkeys (user_id);

-- one row per refresh family (a signed-in device): where it signed in from, when last used
CREATE TABLE user_devices (
    family        VARCHAR(64)  PRIMARY KEY,
    user_id       BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    address       TEXT         NOT NULL DEFAULT '',
    user_agent    TEXT         NOT NULL DEFAULT ''
);
CREATE INDEX user_devices_user_idx ON user_devices (user_id, last_used_at DESC);

-- security-relevant events of an account, readable by its owner and by admins
CREATE TABLE security_events (
    id          BIGSERIAL    PRIMARY KEY,
    user_id     BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        VARCHAR(40)  NOT NULL,
    address     TEXT         NOT NULL DEFAULT '',
    user_agent  TEXT         NOT NULL DEFAULT '',
    detail      JSONB        NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX security_events_user_idx ON security_events (user_id, id DESC);
""")
