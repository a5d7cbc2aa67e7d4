"""Extensions every later migration relies on (the embedded server ships plpgsql and pgvector)."""

from domain.migrate import sql_migration

ID = "2026-11-23T18:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "extensions: vector"

forwards = sql_migration(ID, DESCRIPTION, """
CREATE EXTENSION IF NOT EXISTS vector;
""")
