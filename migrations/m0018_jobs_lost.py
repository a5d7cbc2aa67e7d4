"""Worker: find delivered notifications whose email or push job was lost (Redis lost its data)."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000018"
VERSION = "1.38.0"
DESCRIPTION = "worker: partial indexes on pending email/push deliveries for the due sweep"

# The minute `due_sweep` re-queues the email/push job of a notification delivered over 30 s ago
# whose channel is still `pending` (its job went with a Redis that restarted without its data).
# Pending rows are few at any moment (a job turns them into sent/skipped/deferred/digest within
# seconds), so these indexes stay small.
forwards = sql_migration(ID, DESCRIPTION, """
CREATE INDEX notifications_email_pending_idx ON notifications (delivered_at)
    WHERE email_state = 'pending' AND delivered_at IS NOT NULL;
CREATE INDEX notifications_push_pending_idx ON notifications (delivered_at)
    WHERE push_state = 'pending' AND delivered_at IS NOT NULL;
""")
