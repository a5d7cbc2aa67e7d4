"""README promises of the pure list rules: opaque cursors bound to their query, limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from domain.catalog.cursor import decode_cursor, encode_cursor, fingerprint
from domain.errors import DomainError, Invalid
from domain.social import cursor as social


def test_catalog_cursor_round_trips_only_for_its_own_query() -> None:
    """A catalog cursor gives back its key and id to the same search, and is refused
    (`invalid_cursor`, field `cursor`) by another mode, another query or a forgery."""
    fp = fingerprint("rank", "hobb:*", (), ())
    token = encode_cursor("rank", "0.500001", 42, fp)
    assert "=" not in token and decode_cursor(token, "rank", fp) == ("0.500001", 42)
    assert fingerprint("rank", "hobb:*", (), ()) == fp != fingerprint("rank", "hob:*", (), ())
    other = fingerprint("title", None, (), ())
    forged = base64.urlsafe_b64encode(b'["rank","1",1]').decode()
    for bad, mode, query in [(token, "title", fp), (token, "rank", other),
                             ("not-a-cursor!", "rank", fp), (forged, "rank", fp),
                             ("A" * 1025, "rank", fp), (token[:-2], "rank", fp)]:
        with pytest.raises(DomainError) as caught:
            decode_cursor(bad, mode, query)
        assert (caught.value.code, caught.value.field) == ("invalid_cursor", "cursor"), bad
    assert len(encode_cursor("title", "x" * 600, 1, fp)) <= 1024  # a long title still fits
    decode_cursor(encode_cursor("title", "x" * 600, 1, fp), "title", fp)


def test_list_cursor_round_trips_to_the_microsecond() -> None:
    """A profile/notification list cursor gives back the exact (created_at, id) it was made
    from; none means the first page; a forgery is `invalid_cursor`."""
    at = datetime(2026, 11, 23, 18, 0, 0, 123456, tzinfo=UTC)
    token = social.encode(at, 77)
    assert "=" not in token and social.decode(token) == (at, 77)
    assert social.decode(social.encode(datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), 1)) \
        == (datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), 1)
    assert social.decode(None) is None and social.decode("") is None
    for bad in ["@@@", base64.urlsafe_b64encode(b"12.x").decode(),
                base64.urlsafe_b64encode(b"\xff\xfe").decode(),
                base64.urlsafe_b64encode(b"99999999999999999999999.1").decode()]:
        with pytest.raises(Invalid) as caught:
            social.decode(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_cursor", "cursor"), bad


def test_list_limits_are_one_to_a_hundred() -> None:
    """Page sizes 1..100 are accepted as given; 0 and 101 are `invalid_limit`."""
    assert [social.check_limit(n) for n in (1, 20, 100)] == [1, 20, 100]
    for bad in (0, -1, 101):
        with pytest.raises(Invalid) as caught:
            social.check_limit(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_limit", "limit")
