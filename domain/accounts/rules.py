"""Validation rules for account fields: email, handle, display name and the password policy.

Each rule raises `Invalid` with a stable `code` and the offending `field`, and returns the
normalised value.
"""

from __future__ import annotations

import re
import unicodedata

from domain.errors import Invalid

HANDLE_MIN, HANDLE_MAX = 3, 30
PASSWORD_MIN, PASSWORD_MAX = 8, 128
DISPLAY_NAME_MAX = 60
EMAIL_MAX = 254

_HANDLE_RE = re.compile(r"^[A-Za-z0-9_]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED_HANDLES = frozenset({
    "admin", "administrator", "root", "system", "support", "help", "api", "me", "moderator",
    "readalong", "null", "undefined", "anonymous", "staff", "settings", "login", "logout",
})
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwerty123",
    "qwertyuiop", "iloveyou", "11111111", "abc12345", "letmein1", "welcome1", "00000000",
    "readalong", "passw0rd", "baseball", "football", "sunshine", "princess", "trustno1",
})


def normalize_email(email: str) -> str:
    value = (email or "").strip()
    if not value:
        raise Invalid("email is required", code="email_required", field="email")
    if len(value) > EMAIL_MAX or not _EMAIL_RE.match(value):
        raise Invalid("email is not a valid address", code="email_invalid", field="email")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_handle(handle: str, *, allow_reserved: bool = False) -> str:
    value = (handle or "").strip().lstrip("@")
    if not HANDLE_MIN <= len(value) <= HANDLE_MAX:
        raise Invalid(f"handle must be {HANDLE_MIN} to {HANDLE_MAX} characters",
                      code="handle_length", field="handle")
    if not _HANDLE_RE.match(value):
        raise Invalid("handle may contain only letters, digits and underscores",
                      code="handle_characters", field="handle")
    if value.isdigit():
        raise Invalid("handle must contain at least one letter or underscore",
                      code="handle_numeric", field="handle")
    if not allow_reserved and value.lower() in RESERVED_HANDLES:
        raise Invalid("this handle is reserved", code="handle_reserved", field="handle")
    return value


def normalize_display_name(name: str) -> str:
    value = unicodedata.normalize("NFC", (name or "").strip())
    value = " ".join(value.split())
    if not value:
        raise Invalid("display name is required", code="display_name_required",
                      field="display_name")
    if len(value) > DISPLAY_NAME_MAX:
        raise Invalid(f"display name must be at most {DISPLAY_NAME_MAX} characters",
                      code="display_name_length", field="display_name")
    # control, surrogate, private-use and unassigned characters, and invisible format
    # characters other than the zero-width joiner that emoji sequences use
    if any(unicodedata.category(ch).startswith("C") and ch != "\u200d" for ch in value):
        raise Invalid("display name contains control characters",
                      code="display_name_characters", field="display_name")
    return value


def check_password(password: str, *, email: str, handle: str) -> None:
    """The password policy: 8..128 characters, not common, not containing the email or handle."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise Invalid(f"password must be at least {PASSWORD_MIN} characters",
                      code="password_too_short", field="password")
    if len(password) > PASSWORD_MAX:
        raise Invalid(f"password must be at most {PASSWORD_MAX} characters",
                      code="password_too_long", field="password")
    lowered = password.lower()
    local = email.lower().partition("@")[0]
    identities = [email.lower(), handle.lower()] + ([local] if len(local) >= 4 else [])
    if any(ident and ident in lowered for ident in identities):
        raise Invalid("password must not contain your email or handle",
                      code="password_contains_identity", field="password")
    if lowered in _COMMON_PASSWORDS or len(set(password)) < 3:
        raise Invalid("password is too easy to guess", code="password_too_common",
                      field="password")
