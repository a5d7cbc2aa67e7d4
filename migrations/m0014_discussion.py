"""The shielded-discussion component: idempotent resend keys and the annotation gate choice."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000014"
VERSION = "1.38.0"
DESCRIPTION = "discussion: client_key on messages/reactions/annotations, annotations.gate_at"

# `client_key`: the idempotency key a client may send with a command that creates content; one
# per author (a partial unique index, so the rule holds across reconnects and nodes).
# `gate_at`: how an annotation's gate was chosen. Rows made before this migration were gated at
# the end of their passage ('passage'); new ones default to the author's furthest progression
# ('progress'), set by domain.discussion.
forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE session_messages ADD COLUMN client_key VARCHAR(100) NULL;
ALTER TABLE session_reactions ADD COLUMN client_key VARCHAR(100) NULL;
ALTER TABLE session_annotations ADD COLUMN client_key VARCHAR(100) NULL;
CREATE UNIQUE INDEX session_messages_client_key ON session_messages (author_id, client_key)
    WHERE client_key IS NOT NULL;
CREATE UNIQUE INDEX session_reactions_client_key ON session_reactions (author_id, client_key)
    WHERE client_key IS NOT NULL;
CREATE UNIQUE INDEX session_annotations_client_key ON session_annotations (author_id, client_key)
    WHERE client_key IS NOT NULL;
ALTER TABLE session_annotations ADD COLUMN gate_at VARCHAR(8) NOT NULL DEFAULT 'passage'
    CHECK (gate_at IN ('progress', 'passage'));
""")
