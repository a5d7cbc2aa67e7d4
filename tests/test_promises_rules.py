"""README promises of the pure rules: opaque cursors bound to their query, limits, ISBN
checks naming their field, progressions from 0 to 1, what the shield hides, the command
buckets' configuration."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from domain.catalog.cursor import decode_cursor, encode_cursor, fingerprint
from domain.catalog.isbn import make_isbn13, normalise_isbn
from domain.errors import DomainError, Invalid
from domain.social import cursor as social

try:  # the shield's rules are moving to domain/discussion/
    from domain.discussion import spoilers  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from domain.sessions import spoilers  # type: ignore[no-redef,unused-ignore]


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
        assert caught.value.detail, bad  # a sentence for the developer, not an empty problem
    with pytest.raises(DomainError) as caught:  # the length bound is 1024 characters
        decode_cursor("A" * 1025, "rank", fp)
    assert "too long" in caught.value.detail
    with pytest.raises(DomainError) as caught:
        decode_cursor("A" * 1024, "rank", fp)
    assert "too long" not in caught.value.detail
    assert len(encode_cursor("title", "x" * 600, 1, fp)) <= 1024  # a long title still fits
    decode_cursor(encode_cursor("title", "x" * 600, 1, fp), "title", fp)
    ends = set()  # every padding length round-trips
    for i in range(1, 40):
        token = encode_cursor("title", "t" * (i % 7), i, fp)
        assert decode_cursor(token, "title", fp) == ("t" * (i % 7), i)
        ends.add(len(token) % 4)
    assert ends == {0, 2, 3}


def test_list_cursor_round_trips_to_the_microsecond() -> None:
    """A profile/notification list cursor gives back the exact (created_at, id) it was made
    from; none means the first page; a forgery is `invalid_cursor`."""
    at = datetime(2026, 11, 23, 18, 0, 0, 123456, tzinfo=UTC)
    token = social.encode(at, 77)
    assert "=" not in token and social.decode(token) == (at, 77)
    assert social.decode(social.encode(datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), 1)) \
        == (datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC), 1)
    assert social.decode(None) is None and social.decode("") is None
    seen = set()
    for i in range(1, 300, 7):  # every padding length round-trips
        token = social.encode(at, i)
        assert social.decode(token) == (at, i)
        seen.add(len(token) % 4)
    assert seen == {0, 2, 3}
    for bad in ["@@@", base64.urlsafe_b64encode(b"12.x").decode(),
                base64.urlsafe_b64encode(b"\xff\xfe").decode(),
                base64.urlsafe_b64encode(b"99999999999999999999999.1").decode()]:
        with pytest.raises(Invalid) as caught:
            social.decode(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_cursor", "cursor"), bad
        assert caught.value.detail


def test_list_limits_are_one_to_a_hundred() -> None:
    """Page sizes 1..100 are accepted as given; 0 and 101 are `invalid_limit`."""
    assert [social.check_limit(n) for n in (1, 20, 100)] == [1, 20, 100]
    for bad in (0, -1, 101):
        with pytest.raises(Invalid) as caught:
            social.check_limit(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_limit", "limit")
        assert "between 1 and 100" in caught.value.detail


def test_isbn_errors_name_the_field_they_were_given() -> None:
    """Every ISBN error carries a code, a sentence and the field the caller named (`isbn` by
    default); check digits of 0 and X are computed right for both forms."""
    for bad, code in [("12345", "invalid_isbn"), ("01414395X3", "invalid_isbn"),
                      ("0141439514", "isbn_checksum"), ("97801414395AB", "invalid_isbn"),
                      ("9770141439518", "invalid_isbn"), ("9780141439519", "isbn_checksum"),
                      ("978014143951\u0661", "invalid_isbn")]:  # an Arabic-Indic digit
        for field in ("isbn", "isbn13"):
            with pytest.raises(Invalid) as caught:
                normalise_isbn(bad, **({} if field == "isbn" else {"field": field}))
            assert (caught.value.code, caught.value.field) == (code, field), (bad, field)
            assert caught.value.detail, bad
    assert normalise_isbn("0-306-40615-2") == ("9780306406157", "0306406152")
    assert normalise_isbn("9780000000002") == ("9780000000002", "0000000000")  # ISBN-10 check 0
    assert normalise_isbn("9780000000040")[0] == "9780000000040"  # ISBN-13 check digit 0
    assert make_isbn13("978000000004") == "9780000000040"
    assert make_isbn13("978030640615") == "9780306406157"
    assert normalise_isbn("0-8044-2957-X", form=10) == ("9780804429573", "080442957X")
    assert normalise_isbn("9780804429573", form=13) == ("9780804429573", "080442957X")
    for value, form, wanted in [("080442957X", 13, "13"), ("9780804429573", 10, "10"),
                                ("", None, "10 or 13")]:
        with pytest.raises(Invalid) as caught:
            normalise_isbn(value, form=form)
        assert (caught.value.code, caught.value.field) == ("invalid_isbn", "isbn")
        assert f"has {wanted} characters" in caught.value.detail


def test_progressions_from_zero_to_one_inclusive() -> None:
    """0 and 1 are valid progressions (start and end of the book); errors name the field."""
    assert [spoilers.check_progression(v) for v in (0, 0.0, 0.5, 1, 1.0)] == [
        0.0, 0.0, 0.5, 1.0, 1.0]
    for bad in (-0.001, 1.001, "0.5", True, float("nan")):
        for field in (None, "position.progression"):
            with pytest.raises(Invalid) as caught:
                spoilers.check_progression(bad, **({} if field is None else {"field": field}))
            assert caught.value.field == (field or "progression") and caught.value.detail


def test_the_shield_hides_content_not_who_and_where() -> None:
    """A shielded viewer behind the gate gets a message without text or edit time, a reaction
    without emoji or count, an annotation without quote, note or selectors; never an item of
    an unknown kind."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    behind = spoilers.ViewerState(user_id=1, progress=0.1, shield=True)
    message = spoilers.MessageOut(id=1, session_id=2, author_id=3, author_name="Cy", gate=0.5,
                                  chapter=1, locator="cfi", created_at=at, edited_at=at,
                                  body="the twist")
    reaction = spoilers.ReactionOut(id=4, session_id=2, author_id=3, author_name="Cy",
                                    gate=0.5, chapter=1, locator="cfi", created_at=at,
                                    emoji="!", count=2)
    note = spoilers.AnnotationOut(id=5, session_id=2, book_id=7, author_id=3, author_name="Cy",
                                  visibility="session", gate=0.5, range_start=0.5,
                                  range_end=0.6, chapter=1, locator="cfi", created_at=at,
                                  selectors=["(a selector)"], quote="he dies", note="!!")
    m = spoilers.for_viewer(behind, message)
    assert (m.redacted, m.body, m.edited_at, m.author_id, m.chapter) == (True, None, None, 3, 1)
    r = spoilers.for_viewer(behind, reaction)
    assert (r.redacted, r.emoji, r.count, r.id, r.locator) == (True, None, None, 4, "cfi")
    a = spoilers.for_viewer(behind, note)
    assert (a.redacted, a.quote, a.note, a.selectors, a.range_start) == (
        True, None, None, None, 0.5)
    with pytest.raises(TypeError, match="no redaction for Unknown"):
        spoilers.for_viewer(behind, type("Unknown", (), {"author_id": 3, "gate": 0.5})())


def test_command_buckets_fall_back_to_the_defaults() -> None:
    """A settings object without the WS rate settings keeps every class's default bucket."""
    from realtime.ratelimit import COMMAND_LIMITS, limits_from

    assert limits_from(object()) == COMMAND_LIMITS
