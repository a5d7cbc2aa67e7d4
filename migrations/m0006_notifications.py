"""Notifications: the inbox, per-type × channel preferences, delivery settings, push subscriptions."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000006"
VERSION = "1.38.0"
DESCRIPTION = "notifications: notifications, notification_prefs, notification_settings, push_subscriptions"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE TABLE notifications (
    id            BIGSERIAL    PRIMARY KEY,
    recipient_id  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type          VARCHAR(40)  NOT NULL,
    actor_id      BIGINT       NULL REFERENCES users (id) ON DELETE SET NULL,
    actor_ids     BIGINT[]     NOT NULL DEFAULT '{}',
    event_count   INTEGER      NOT NULL DEFAULT 1,
    target_kind   VARCHAR(30)  NOT NULL DEFAULT '',
    target_id     VARCHAR(64)  NOT NULL DEFAULT '',
    payload       JSONB        NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    seen_at       TIMESTAMPTZ  NULL,
    read_at       TIMESTAMPTZ  NULL,
    delivered_at  TIMESTAMPTZ  NULL,
    email_state   VARCHAR(12)  NOT NULL DEFAULT 'none'
                  CHECK (email_state IN ('none', 'pending', 'deferred', 'digest', 'sent', 'skipped')),
    email_due_at  TIMESTAMPTZ  NULL,
    push_state    VARCHAR(12)  NOT NULL DEFAULT 'none'
                  CHECK (push_state IN ('none', 'pending', 'deferred', 'sent', 'skipped')),
    push_due_at   TIMESTAMPTZ  NULL
);
CREATE INDEX notifications_inbox_idx ON notifications (recipient_id, updated_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (recipient_id) WHERE read_at IS NULL;
CREATE INDEX notifications_group_idx
    ON notifications (recipient_id, type, target_kind, target_id, updated_at DESC)
    WHERE read_at IS NULL;
CREATE INDEX notifications_undelivered_idx ON notifications (created_at) WHERE delivered_at IS NULL;
CREATE INDEX notifications_email_due_idx ON notifications (email_due_at) WHERE email_state = 'deferred';
CREATE INDEX notifications_push_due_idx ON notifications (push_due_at) WHERE push_state = 'deferred';
CREATE INDEX notifications_digest_idx ON notifications (recipient_id, created_at) WHERE email_state = 'digest';

CREATE TABLE notification_prefs (
    user_id  BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type     VARCHAR(40)  NOT NULL,
    channel  VARCHAR(10)  NOT NULL CHECK (channel IN ('in_app', 'email', 'push')),
    enabled  BOOLEAN      NOT NULL,
    PRIMARY KEY (user_id, type, channel)
);

CREATE TABLE notification_settings (
    user_id         BIGINT       PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    timezone        VARCHAR(64)  NOT NULL DEFAULT 'UTC',
    quiet_start     SMALLINT     NULL CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end       SMALLINT     NULL CHECK (quiet_end BETWEEN 0 AND 1439),
    digest          BOOLEAN      NOT NULL DEFAULT false,
    digest_hour     SMALLINT     NOT NULL DEFAULT 8 CHECK (digest_hour BETWEEN 0 AND 23),
    last_digest_at  TIMESTAMPTZ  NULL,
    email_opt_out   BOOLEAN      NOT NULL DEFAULT false,
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX notification_settings_digest_idx ON notification_settings (user_id) WHERE digest;

CREATE TABLE push_subscriptions (
    id              BIGSERIAL    PRIMARY KEY,
    user_id         BIGINT       NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint        TEXT         NOT NULL UNIQUE,
    p256dh          TEXT         NOT NULL,
    auth            TEXT         NOT NULL,
    user_agent      TEXT         NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    last_success_at TIMESTAMPTZ  NULL
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
""")
