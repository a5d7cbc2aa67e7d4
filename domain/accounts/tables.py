"""piccolo tables of the accounts context: users and refresh tokens (see m0002_accounts)."""

from __future__ import annotations

from piccolo.columns import (
    Array,
    BigInt,
    BigSerial,
    ForeignKey,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class User(Table, tablename="users"):
    """An account. `email` and `handle` are unique case-insensitively (lower() indexes)."""

    id = BigSerial(primary_key=True)
    email = Varchar(length=254)
    handle = Varchar(length=30)
    display_name = Varchar(length=60)
    password_hash = Text(secret=True)
    role = Varchar(length=16, default="reader")
    bio = Text(default="")
    avatar_url = Text(null=True, default=None)
    favourite_genres = Array(base_column=Text())
    visibility = Varchar(length=16, default="public")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RefreshToken(Table, tablename="refresh_tokens"):
    """One refresh token (sha256 of the opaque value); rotation links it to its successor."""

    id = BigSerial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    family = Varchar(length=64)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    replaced_by = BigInt(null=True, default=None)
