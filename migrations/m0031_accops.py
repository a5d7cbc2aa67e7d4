"""accops: passkeys as a second sign-in factor (an account's choice)."""

from domain.migrate import sql_migration

ID = "2026-12-01T23:30:00:000031"
VERSION = "1.38.0"
DESCRIPTION = "accops: users.passkey_second_factor"

# true: a password (or provider) sign-in asks for one of the account's passkeys as the
# second step (besides a TOTP code when TOTP is on too)
forwards = sql_migration(ID, DESCRIPTION, """
ALTER TABLE users ADD COLUMN passkey_second_factor BOOLEAN NOT NULL DEFAULT false;
""")
