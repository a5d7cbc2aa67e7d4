"""The stage's rules (`domain.audio.stage`, pure) and the mixer's grouping (`mix.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from domain.audio import stage as rules
from domain.errors import DomainError
from domain.settings import load_settings
from realtime.media.mix import CHUNK, Mixer, PacketTrack
from realtime.stage.ice import ice_servers


def _stage(max_speakers: int = 2) -> rules.Stage:
    return rules.new_stage("session:1", 1, max_speakers, "e1", 100.0)


def _code(fn: object, *args: object) -> str:
    with pytest.raises(DomainError) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value.code


def test_roles_hands_invitations_and_the_speaker_cap() -> None:
    """A raised hand is promoted by an invite, others accept first; the cap holds; only a
    manager invites or moves others; the host stays on stage."""
    s = _stage()
    assert s.speakers == [1] and rules.audible(s) == {1}
    assert _code(rules.invite, s, False, 2) == "not_stage_host"
    s = rules.raise_hand(s, 2, True)
    s = rules.invite(s, True, 2)
    assert s.speakers == [1, 2] and s.hands == []
    s = rules.invite(s, True, 3)
    assert s.invited == [3]
    assert _code(rules.accept, s, 3, True) == "stage_full"
    assert _code(rules.accept, s, 4, True) == "not_invited"
    assert _code(rules.to_listener, s, 3, False, 2) == "not_stage_host"
    s = rules.to_listener(s, 2, False, 2)  # steps down themselves
    s = rules.accept(s, 3, True)
    assert s.speakers == [1, 3]
    assert _code(rules.to_listener, s, 1, True, 1) == "host_stays"


def test_mutes_and_speaking_time() -> None:
    """A self-mute is the speaker's to lift, a manager's mute only a manager's; speaking time
    counts the audible spans only."""
    s = rules.invite(rules.raise_hand(_stage(), 2, True), True, 2)
    s, spoken = rules.settle(s, 100.0)
    assert set(s.speaking_since) == {1, 2} and spoken == {}
    s = rules.mute(s, 1, True, 2, True)  # the host mutes speaker 2
    s, spoken = rules.settle(s, 130.0)
    assert rules.audible(s) == {1} and spoken == {2: 30.0}
    assert _code(rules.mute, s, 2, False, 2, False) == "not_stage_host"
    s = rules.mute(s, 1, True, 2, False)
    s = rules.mute(s, 2, False, 2, True)  # their own mute
    s = rules.mute(s, 2, False, 2, False)
    assert rules.audible(s) == {1, 2}
    assert _code(rules.mute, s, 1, True, 5, True) == "not_speaker"
    assert rules.spoken_until(rules.settle(s, 140.0)[0], 150.0) == {1: 50.0, 2: 10.0}


def test_mixer_encodes_each_heard_set_once() -> None:
    """Listeners who hear the same speakers share one encoded mix; a speaker never hears
    themselves and a listener never hears whom they blocked."""
    mixer = Mixer()
    tracks = {u: PacketTrack() for u in (1, 2, 10, 11, 12)}
    chunk = (np.ones(CHUNK) * 1000).astype(np.int16)
    listeners = [(1, frozenset(), tracks[1]), (2, frozenset(), tracks[2]),
                 (10, frozenset(), tracks[10]), (11, frozenset(), tracks[11]),
                 (12, frozenset({2}), tracks[12])]
    for _ in range(5):
        mixer.tick({1: chunk, 2: chunk}, {1, 2}, listeners)
    # groups: {2} for 1, {1} for 2, {1, 2} for 10 and 11, {1} for 12 (shares with 2)
    assert mixer.encoded == 5 * 3
    assert tracks[10]._queue.qsize() == tracks[11]._queue.qsize() > 0


def test_no_ice_servers_unless_configured() -> None:
    """No STUN or TURN by default (never a public one); configured ones carry credentials."""
    assert ice_servers(load_settings({})) == []
    got = ice_servers(load_settings({"READALONG_MEDIA_STUN_URLS": "stun:stun.internal:3478",
                                     "READALONG_MEDIA_TURN_URLS": "turn:turn.internal:3478",
                                     "READALONG_MEDIA_TURN_USERNAME": "u",
                                     "READALONG_MEDIA_TURN_CREDENTIAL": "p"}))
    assert got == [{"urls": ["stun:stun.internal:3478"]},
                   {"urls": ["turn:turn.internal:3478"], "username": "u", "credential": "p"}]
