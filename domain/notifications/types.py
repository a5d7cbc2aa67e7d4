"""The notification type registry: every type is declared here (or by a feature via `register`)."""

from __future__ import annotations

import msgspec

from domain.errors import Invalid

CHANNELS = ("in_app", "email", "push")


class NotificationType(msgspec.Struct, frozen=True):
    """A kind of notification. `text` is a template with `{actors}` (e.g. "Ana and 3 others")
    and the payload's keys; `groupable` types collapse repeated events on one target."""

    name: str
    text: str
    groupable: bool = False
    in_app: bool = True
    email: bool = True
    push: bool = True
    description: str = ""

    def default(self, channel: str) -> bool:
        return bool(getattr(self, channel))


_REGISTRY: dict[str, NotificationType] = {}


def register(kind: NotificationType) -> NotificationType:
    """Declare a type (idempotent for an identical declaration; a clash is a programming error)."""
    existing = _REGISTRY.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"notification type {kind.name!r} is already declared differently")
    _REGISTRY[kind.name] = kind
    return kind


def get(name: str) -> NotificationType:
    kind = _REGISTRY.get(name)
    if kind is None:
        raise Invalid(f"unknown notification type {name!r}", code="unknown_notification_type",
                      field="type")
    return kind


def all_types() -> list[NotificationType]:
    return sorted(_REGISTRY.values(), key=lambda k: k.name)


NEW_FOLLOWER = register(NotificationType(
    "new_follower", "{actors} started following you", groupable=True, email=False,
    description="someone followed you"))
FOLLOW_REQUEST = register(NotificationType(
    "follow_request", "{actors} asked to follow you", groupable=True,
    description="someone asked to follow your followers-only profile"))
FOLLOW_ACCEPTED = register(NotificationType(
    "follow_accepted", "{actors} accepted your follow request", email=False,
    description="someone approved your request to follow them"))
MENTION = register(NotificationType(
    "mention", "{actors} mentioned you in {where}", description="a mention in a room or chat"))
ANNOTATION_REPLY = register(NotificationType(
    "annotation_reply", "{actors} replied to your note", groupable=True,
    description="a reply to your annotation"))
ANNOTATION_REACTION = register(NotificationType(
    "annotation_reaction", "{actors} reacted to your note", groupable=True, email=False,
    push=False, description="a reaction to your annotation"))
SESSION_STARTING = register(NotificationType(
    "session_starting", "{title} is starting", description="a session you joined or were "
    "invited to is about to start"))
SESSION_INVITATION = register(NotificationType(
    "session_invitation", "{actors} invited you to {title}",
    description="an invitation to a co-reading session"))
GOAL_REACHED = register(NotificationType(
    "goal_reached", "You reached your {year} reading goal: {summary}",
    description="you reached your yearly reading goal (domain/reading/goals.py)"))
REVIEW_LIKED = register(NotificationType(
    "review_liked", "{actors} liked your review", groupable=True, email=False, push=False,
    description="someone liked your review"))
REVIEW_COMMENT = register(NotificationType(
    "review_comment", "{actors} commented on your review", groupable=True,
    description="a comment on your review"))
BADGE_AWARDED = register(NotificationType(
    "badge_awarded", "You earned the {badge} badge", email=False,
    description="a reading badge was awarded to you (domain/reading/gamification.py)"))
# --- clubs (domain/clubs) ---
CLUB_JOIN_REQUEST = register(NotificationType(
    "club_join_request", "{actors} asked to join {club}", groupable=True,
    description="someone asked to join a club you organise"))
CLUB_INVITED = register(NotificationType(
    "club_invited", "{actors} invited you to {club}",
    description="an organiser invited you to a club (the notification carries your link)"))
CLUB_REQUEST_APPROVED = register(NotificationType(
    "club_request_approved", "You are now a member of {club}",
    description="your request to join a club was approved"))
CLUB_SECTION_OPENED = register(NotificationType(
    "club_section_opened", "{club}: the discussion of {section} is open", email=False,
    description="a section thread of a club you are in opened on schedule"))
CLUB_SCHEDULE_CHANGED = register(NotificationType(
    "club_schedule_changed", "{club} moved its reading schedule", email=False,
    description="the organisers of a club you are in shifted the schedule"))
CLUB_EVENT_CHANGED = register(NotificationType(
    "club_event_changed", "{club}: {title} was {change}",
    description="an event of your club you answered going/maybe to changed or was cancelled"))
CLUB_EVENT_REMINDER = register(NotificationType(
    "club_event_reminder", "{club}: {title} starts soon",
    description="a club event you are going to starts within 24 hours or 1 hour"))
CLUB_POLL_OPENED = register(NotificationType(
    "club_poll_opened", "{club} asks: {question}", email=False,
    description="a poll opened in a club you are in"))
CLUB_POLL_CLOSED = register(NotificationType(
    "club_poll_closed", "{club}: the poll {question} closed", email=False,
    description="a poll of a club you are in closed (its results are kept)"))
MESSAGE_REPLY = register(NotificationType(
    "message_reply", "{actors} replied to your post in {where}", groupable=True,
    description="a reply to your post in a discussion thread (through the spoiler shield)"))


def actors_phrase(names: list[str], count: int) -> str:
    """"Ana", "Ana and Ben", "Ana and 3 others" (count = distinct actors)."""
    if not names:
        return "Someone"
    if count <= 1:
        return names[0]
    if count == 2 and len(names) >= 2:
        return f"{names[0]} and {names[1]}"
    others = count - 1
    return f"{names[0]} and {others} other{'s' if others != 1 else ''}"


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"


def render_text(kind: NotificationType, names: list[str], count: int,
                payload: dict[str, object]) -> str:
    values = _Defaults({k: str(v) for k, v in payload.items()})
    values["actors"] = actors_phrase(names, count)
    values.setdefault("where", "a conversation")
    values.setdefault("title", "A session")
    return kind.text.format_map(values)
