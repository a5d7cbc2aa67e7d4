"""The shield's pure rules (no server): who gets the full item, the redacted one, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import Invalid
from domain.sessions.books import BookInfo
from domain.sessions.schemas import MessageOut
from domain.sessions.spoilers import ViewerState, check_progression, for_viewer
from realtime.rooms.base import FULL, REDACTED, SKIP, Viewer, variant_for

MSG = MessageOut(id=1, session_id=1, author_id=9, author_name="Nine", gate=0.6, chapter=3,
                 locator="cfi", created_at=datetime(2026, 1, 1, tzinfo=UTC), body="spoiler")


@pytest.mark.parametrize(("progress", "shield", "hidden", "expect"), [
    (None, True, frozenset(), "redacted"),
    (0.59, True, frozenset(), "redacted"),
    (0.6, True, frozenset(), "full"),
    (0.9, True, frozenset(), "full"),
    (0.1, False, frozenset(), "full"),
    (0.9, True, frozenset({9}), "none"),
])
def test_rest_rule_matches_the_hub_rule(progress: float | None, shield: bool,
                                        hidden: frozenset[int], expect: str) -> None:
    """REST listings (for_viewer) and live fan-out (variant_for) agree for every case."""
    got = for_viewer(ViewerState(user_id=5, progress=progress, shield=shield,
                                 hidden_authors=hidden), MSG)
    rest = "none" if got is None else ("redacted" if got.redacted else "full")
    assert rest == expect
    if got is not None and got.redacted:
        assert got.body is None and got.author_id == 9 and got.chapter == 3
    live = variant_for(Viewer(progress=progress, shield=shield, hidden_authors=hidden), 5,
                       redacted=True, gate=MSG.gate, author_id=MSG.author_id, targets=None)
    assert {SKIP: "none", REDACTED: "redacted", FULL: "full"}[live] == expect


def test_authors_always_see_their_own() -> None:
    """The author reads their own message in full even behind its gate with the shield on."""
    me = ViewerState(user_id=9, progress=0.0, shield=True)
    assert for_viewer(me, MSG).body == "spoiler"


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "0.5", True, None])
def test_progressions_outside_zero_one_are_refused(bad: object) -> None:
    """Anything but a finite number from 0 to 1 is an `invalid_position` error."""
    with pytest.raises(Invalid) as err:
        check_progression(bad)
    assert err.value.code == "invalid_position"


def test_chapter_from_the_table_of_contents() -> None:
    """A progression maps to the last chapter starting at or before it."""
    book = BookInfo(id=1, title="t", chapter_starts=(0.0, 0.25, 0.5, 0.75))
    assert [book.chapter_at(p) for p in (0.0, 0.2499, 0.25, 0.74, 1.0)] == [0, 0, 1, 2, 3]
    assert BookInfo(id=2, title="no toc").chapter_at(0.5) is None
