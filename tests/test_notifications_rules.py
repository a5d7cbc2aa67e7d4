"""Pure notification rules: quiet hours in a time zone, actor phrases, unsubscribe tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import Invalid
from domain.notifications.prefs import DeliverySettings
from domain.notifications.tokens import make_unsubscribe_token, read_unsubscribe_token
from domain.notifications.types import actors_phrase


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, tzinfo=UTC)


def test_quiet_hours_across_midnight_in_the_users_zone() -> None:
    """22:00–07:00 in Tokyo (UTC+9): 14:00 UTC is 23:00 there (quiet until 07:00 local =
    22:00 UTC); 05:00 UTC is 14:00 there (not quiet)."""
    ds = DeliverySettings(timezone="Asia/Tokyo", quiet_start=22 * 60, quiet_end=7 * 60)
    assert ds.quiet_until(_at(14)) == _at(22)
    assert ds.quiet_until(_at(5)) is None
    # 21:30 UTC is 06:30 the next day in Tokyo: quiet for 30 more minutes
    assert ds.quiet_until(_at(21, 30)) == _at(22)


def test_quiet_hours_within_a_day_and_switched_off() -> None:
    """A 13:00–15:00 window defers at 14:00 until 15:00; no window never defers."""
    ds = DeliverySettings(timezone="UTC", quiet_start=13 * 60, quiet_end=15 * 60)
    assert ds.quiet_until(_at(14)) == _at(15)
    assert ds.quiet_until(_at(15)) is None
    assert DeliverySettings().quiet_until(_at(3)) is None


def test_actor_phrases() -> None:
    """One, two and many actors read naturally."""
    assert actors_phrase(["Ana"], 1) == "Ana"
    assert actors_phrase(["Ana", "Ben"], 2) == "Ana and Ben"
    assert actors_phrase(["Ana", "Ben"], 4) == "Ana and 3 others"
    assert actors_phrase(["Ana", "Ben"], 2) != actors_phrase(["Ben", "Ana"], 2)


def test_unsubscribe_tokens_are_signed_and_bound() -> None:
    """A token reads back its user and type; a tampered one or another key's is refused."""
    token = make_unsubscribe_token("secret-a", 42, "mention")
    assert read_unsubscribe_token("secret-a", token) == (42, "mention")
    with pytest.raises(Invalid):
        read_unsubscribe_token("secret-b", token)
    forged = make_unsubscribe_token("secret-a", 43, "mention").split(".")[0] + "." + \
        token.split(".")[1]
    with pytest.raises(Invalid):
        read_unsubscribe_token("secret-a", forged)
    with pytest.raises(Invalid):
        read_unsubscribe_token("secret-a", "garbage")


def test_push_endpoints_outside_development_must_be_public_https() -> None:
    """Production refuses http, IP literals, localhost and credentials in push endpoints (the
    worker must not be usable to reach internal services)."""
    from domain.notifications.subscriptions import _check_endpoint

    assert _check_endpoint("https://fcm.googleapis.com/fcm/send/abc", False)
    for url in ("http://push.example/x", "https://10.0.0.1/x", "https://[::1]/x",
                "https://localhost/x", "https://u:p@push.example/x", "notaurl"):
        with pytest.raises(Invalid):
            _check_endpoint(url, False)
    assert _check_endpoint("http://127.0.0.1:9/x", True)


def test_email_subjects_stay_on_one_line() -> None:
    """Line breaks that came in a payload never reach the Subject header."""
    from domain.settings import load_settings
    from jobs.mailer import build_message

    msg = build_message(load_settings({}), to="a@example.test", subject="Ana mentioned you in\r\n"
                        "Bcc: evil@example.test", lines=["x"], user_id=1)
    assert msg["Subject"] == "Ana mentioned you in Bcc: evil@example.test"
    assert msg["Bcc"] is None
