"""piccolo tables of notifications (see m0006_notifications)."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from domain.accounts.tables import User


class Notification(Table, tablename="notifications"):
    """One inbox entry; repeated events on one target are grouped into it (actor_ids, event_count)."""

    id = BigSerial(primary_key=True)
    recipient_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    type = Varchar(length=40)
    actor_id = BigInt(null=True, default=None)
    actor_ids = Array(base_column=BigInt())
    event_count = Integer(default=1)
    target_kind = Varchar(length=30, default="")
    target_id = Varchar(length=64, default="")
    payload = JSONB(default={})
    created_at = Timestamptz()
    updated_at = Timestamptz()
    seen_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    email_state = Varchar(length=12, default="none")
    email_due_at = Timestamptz(null=True, default=None)
    push_state = Varchar(length=12, default="none")
    push_due_at = Timestamptz(null=True, default=None)


class NotificationPref(Table, tablename="notification_prefs"):
    """An explicit per-user choice for one (type, channel); absent rows use the type's default."""

    user_id = BigInt(primary_key=True)
    type = Varchar(length=40)
    channel = Varchar(length=10)
    enabled = Boolean()


class NotificationSettings(Table, tablename="notification_settings"):
    """Per-user delivery settings: time zone, quiet hours (minutes of day), digest, email opt-out."""

    user_id = BigInt(primary_key=True)
    timezone = Varchar(length=64, default="UTC")
    quiet_start = SmallInt(null=True, default=None)
    quiet_end = SmallInt(null=True, default=None)
    digest = Boolean(default=False)
    digest_hour = SmallInt(default=8)
    last_digest_at = Timestamptz(null=True, default=None)
    email_opt_out = Boolean(default=False)
    updated_at = Timestamptz()


class PushSubscription(Table, tablename="push_subscriptions"):
    """A browser's Web Push subscription (endpoint + p256dh and auth keys)."""

    id = BigSerial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    endpoint = Text(unique=True)
    p256dh = Text()
    auth = Text()
    user_agent = Text(default="")
    created_at = Timestamptz()
    last_success_at = Timestamptz(null=True, default=None)


NOTIFICATION_TABLES: list[type[Table]] = [Notification, NotificationPref, NotificationSettings,
                                          PushSubscription]
