"""The accounts context: users, passwords, tokens, roles and revocation."""
