"""The activity verb registry: what can appear in a home feed (features add theirs here)."""

from __future__ import annotations

from domain.errors import Invalid

_VERBS: dict[str, str] = {}


def register(verb: str, text: str) -> str:
    """Declare a verb with its display template (`{actor}` and the payload's keys)."""
    _VERBS[verb] = text
    return verb


def check(verb: str) -> str:
    if verb not in _VERBS:
        raise Invalid(f"unknown activity verb {verb!r}", code="unknown_activity", field="verb")
    return verb


def template(verb: str) -> str:
    return _VERBS.get(verb, "{actor} did something")


STARTED_BOOK = register("started_book", "{actor} started reading {title}")
FINISHED_BOOK = register("finished_book", "{actor} finished {title}")
JOINED_SESSION = register("joined_session", "{actor} joined the session {title}")
HOSTED_SESSION = register("hosted_session", "{actor} is hosting the session {title}")
PUBLISHED_ANNOTATION = register("published_annotation", "{actor} shared a note on {title}")
FOLLOWED = register("followed", "{actor} followed {name}")
REVIEWED_BOOK = register("reviewed_book", "{actor} reviewed {title}")
RATED_BOOK = register("rated_book", "{actor} rated {title} {rating} stars")
# --- clubs (domain/clubs; public clubs only: the feed reaches beyond the club) ---
JOINED_CLUB = register("joined_club", "{actor} joined the book club {club}")
CLUB_STARTED_BOOK = register("club_started_book", "{actor}'s club {club} started reading {title}")
CLUB_FINISHED_BOOK = register("club_finished_book", "{actor}'s club {club} finished {title}")
