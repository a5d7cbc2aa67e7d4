"""A stage's state and its rules (pure: no I/O). Roles: the host (who opened it, always a
speaker while on stage), speakers (at most `max_speakers`, the host included) and listeners
(everyone else in the room). Listeners raise a hand; managers (the host, the place's host or
moderators) invite to speak, move speakers back to listener and mute anyone; a speaker mutes
themselves. Only unmuted speakers are heard (`audible`); speaking time is the time a user spent
audible (`spoken`)."""

from __future__ import annotations

import msgspec

from domain.errors import Conflict, Forbidden, Invalid

MAX_SPEAKERS_LIMIT = 16  # the most a host may ask for (the media process mixes them)


class Stage(msgspec.Struct, kw_only=True):
    """The state of one open stage (stored as JSON in Redis, shown to clients as is)."""

    place: str  # the room it belongs to: `session:<id>` or `club_event:<id>`
    host_id: int
    max_speakers: int
    media_epoch: str  # the media process this stage's peers live in (its heartbeat epoch)
    opened_at: float
    version: int = 0
    speakers: list[int] = []  # host first
    hands: list[int] = []  # listeners asking to speak, in order
    invited: list[int] = []  # listeners a manager invited (they `accept`)
    self_muted: list[int] = []
    host_muted: list[int] = []
    # audible speakers -> since when (epoch seconds): what speaking time is measured from
    speaking_since: dict[int, float] = {}


def new_stage(place: str, host_id: int, max_speakers: int, media_epoch: str,
              now: float) -> Stage:
    if not 1 <= max_speakers <= MAX_SPEAKERS_LIMIT:
        raise Invalid(f"max_speakers must be 1..{MAX_SPEAKERS_LIMIT}", code="invalid",
                      field="max_speakers")
    stage = Stage(place=place, host_id=host_id, max_speakers=max_speakers,
                  media_epoch=media_epoch, opened_at=now, speakers=[host_id])
    return settle(stage, now)[0]


def audible(stage: Stage) -> set[int]:
    """Speakers who are heard: on stage and muted neither by themselves nor by a manager."""
    muted = set(stage.self_muted) | set(stage.host_muted)
    return {u for u in stage.speakers if u not in muted}


def settle(stage: Stage, now: float) -> tuple[Stage, dict[int, float]]:
    """Bring `speaking_since` in line with who is audible now: (the stage, seconds spoken by
    those who just stopped being audible)."""
    heard = audible(stage)
    since = dict(stage.speaking_since)
    spoken = {u: max(0.0, now - t) for u, t in since.items() if u not in heard}
    for u in spoken:
        del since[u]
    for u in heard:
        since.setdefault(u, now)
    stage.speaking_since = since
    return stage, spoken


def spoken_until(stage: Stage, now: float) -> dict[int, float]:
    """Seconds each audible speaker has spoken in their current span (when a stage ends)."""
    return {u: max(0.0, now - t) for u, t in stage.speaking_since.items()}


def _without(items: list[int], user_id: int) -> list[int]:
    return [u for u in items if u != user_id]


def _need_manager(manager: bool) -> None:
    if not manager:
        raise Forbidden("only the stage's host or a moderator may do this",
                        code="not_stage_host")


def _promote(stage: Stage, user_id: int) -> None:
    if user_id in stage.speakers:
        raise Conflict("already a speaker", code="already_speaker")
    if len(stage.speakers) >= stage.max_speakers:
        raise Conflict(f"the stage has {stage.max_speakers} speakers already",
                       code="stage_full")
    stage.speakers = [*stage.speakers, user_id]
    stage.hands = _without(stage.hands, user_id)
    stage.invited = _without(stage.invited, user_id)


def raise_hand(stage: Stage, user_id: int, raised: bool) -> Stage:
    if raised and user_id in stage.speakers:
        raise Conflict("speakers need not raise a hand", code="already_speaker")
    stage.hands = _without(stage.hands, user_id) + ([user_id] if raised else [])
    return stage


def invite(stage: Stage, manager: bool, user_id: int) -> Stage:
    """A manager invites a listener: one whose hand is up becomes a speaker at once (they
    asked), anyone else is invited and becomes a speaker when they `accept`."""
    _need_manager(manager)
    if user_id in stage.speakers:
        raise Conflict("already a speaker", code="already_speaker")
    if user_id in stage.hands:
        _promote(stage, user_id)
    elif user_id not in stage.invited:
        stage.invited = [*stage.invited, user_id]
    return stage


def accept(stage: Stage, user_id: int, accepted: bool) -> Stage:
    """An invited listener takes (or declines) the invitation to speak."""
    if user_id not in stage.invited:
        raise Forbidden("you were not invited to speak", code="not_invited")
    if accepted:
        _promote(stage, user_id)
    else:
        stage.invited = _without(stage.invited, user_id)
    return stage


def to_listener(stage: Stage, actor: int, manager: bool, user_id: int) -> Stage:
    """A manager moves a speaker back to the audience; a speaker may step down themselves.
    The host stays on their stage (they close it instead)."""
    if user_id != actor:
        _need_manager(manager)
    if user_id not in stage.speakers:
        raise Conflict("not a speaker", code="not_speaker")
    if user_id == stage.host_id:
        raise Conflict("the host stays on stage; close the stage instead", code="host_stays")
    stage.speakers = _without(stage.speakers, user_id)
    stage.self_muted = _without(stage.self_muted, user_id)
    stage.host_muted = _without(stage.host_muted, user_id)
    return stage


def mute(stage: Stage, actor: int, manager: bool, user_id: int, muted: bool) -> Stage:
    """A speaker's own mute, or a manager's mute of anyone (only a manager lifts the latter)."""
    if user_id not in stage.speakers:
        raise Conflict("not a speaker", code="not_speaker")
    by_manager = user_id != actor or (user_id in stage.host_muted and not muted)
    if by_manager:
        _need_manager(manager)
        stage.host_muted = _without(stage.host_muted, user_id) + ([user_id] if muted else [])
        if not muted:
            stage.self_muted = _without(stage.self_muted, user_id)
    else:
        stage.self_muted = _without(stage.self_muted, user_id) + ([user_id] if muted else [])
    return stage


def leave(stage: Stage, user_id: int) -> Stage:
    """A user left the room for good (hung up): off stage, hand down, invitation gone."""
    if user_id != stage.host_id:
        stage.speakers = _without(stage.speakers, user_id)
    stage.hands = _without(stage.hands, user_id)
    stage.invited = _without(stage.invited, user_id)
    return stage
