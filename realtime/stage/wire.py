"""The stage's signalling on the wire: what clients publish into `stage:<place>` (a closed
union, `publish.data`, tag field `type`), the events the room sends, and the messages between
the web processes and the media process (JSON over Redis lists, another closed union)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from domain.ids import Id

Sdp = Annotated[str, msgspec.Meta(max_length=20_000, description="a full SDP (non-trickle)")]


# --- client -> server (`publish.data` in `stage:<place>`) ---

class StateCmd(msgspec.Struct, tag="state", forbid_unknown_fields=True):
    """The stage's state now (`stage` or null) and the ICE servers to configure."""


class OpenCmd(msgspec.Struct, tag="open", forbid_unknown_fields=True):
    """Open the stage (the place's host or a moderator); you become its host and speaker."""

    max_speakers: Annotated[int, msgspec.Meta(ge=1, le=16)] | None = None


class CloseCmd(msgspec.Struct, tag="close", forbid_unknown_fields=True):
    """Close the stage (a manager): everyone's audio ends, `stage_ended` reason `closed`."""


class OfferCmd(msgspec.Struct, tag="offer", forbid_unknown_fields=True):
    """An SDP offer with every ICE candidate in it (wait for gathering to complete). The first
    one connects you; later ones renegotiate the same connection (e.g. add your microphone
    once you are a speaker). The ack's `sdp` is the answer."""

    sdp: Sdp


class HangupCmd(msgspec.Struct, tag="hangup", forbid_unknown_fields=True):
    """Leave the stage's audio (and the stage, if you were speaking)."""


class HandCmd(msgspec.Struct, tag="hand", forbid_unknown_fields=True):
    """Raise (or lower) your hand to speak."""

    raised: bool = True


class InviteCmd(msgspec.Struct, tag="invite", forbid_unknown_fields=True):
    """(manager) Invite a listener to speak; one with a raised hand becomes a speaker at once."""

    user_id: Id


class AcceptCmd(msgspec.Struct, tag="accept", forbid_unknown_fields=True):
    """Take (or decline) an invitation to speak."""

    accepted: bool = True


class ListenCmd(msgspec.Struct, tag="to_listener", forbid_unknown_fields=True):
    """Move a speaker back to the audience (a manager; a speaker for themselves: no user_id)."""

    user_id: Id | None = None


class MuteCmd(msgspec.Struct, tag="mute", forbid_unknown_fields=True):
    """Mute or unmute a speaker: yourself (no user_id), or anyone (a manager)."""

    muted: bool = True
    user_id: Id | None = None


StageCommand = (StateCmd | OpenCmd | CloseCmd | OfferCmd | HangupCmd | HandCmd | InviteCmd
                | AcceptCmd | ListenCmd | MuteCmd)


# --- server -> client (`event` frames in `stage:<place>`) ---

class StageOut(msgspec.Struct):
    """Who is on stage: the host, speakers (host first), raised hands, invitations, mutes."""

    place: str
    host_id: int
    max_speakers: int
    speakers: list[int]
    hands: list[int]
    invited: list[int]
    muted: list[int]  # muted speakers (by themselves or by a manager)
    host_muted: list[int]  # of those, the ones only a manager may unmute
    version: int
    opened_at: float


class StageChanged(msgspec.Struct, tag="stage"):
    """The stage's new state (after every change). A listener who became a speaker adds their
    microphone and sends a new `offer`; nobody else needs to renegotiate (one mixed stream)."""

    stage: StageOut


class StageEnded(msgspec.Struct, tag="stage_ended"):
    """The stage is over: `closed` by a manager, `place_ended` (its session ended, its event
    was cancelled), or `media_restarted` (the media process stopped or restarted: every peer
    connection is gone; a manager may open a new stage)."""

    place: str
    reason: Literal["closed", "place_ended", "media_restarted"]


StageEvent = StageChanged | StageEnded


# --- web process <-> media process (Redis lists `ra:media:req` / `ra:media:reply:<id>`) ---

class MediaOffer(msgspec.Struct, tag="offer"):
    """Connect or renegotiate `user_id`'s peer on `stage` with this offer; reply the answer."""

    req: str
    stage: str
    epoch: str
    user_id: int
    sdp: str
    hidden: list[int]  # users this listener must not hear (blocked either way)
    audible: list[int]
    deadline: float  # epoch seconds: a request older than this is dropped


class MediaUpdate(msgspec.Struct, tag="update"):
    """Who is heard on `stage` now (sent after every change of the stage)."""

    stage: str
    epoch: str
    audible: list[int]


class MediaDrop(msgspec.Struct, tag="drop"):
    """Close `user_id`'s peer on `stage` (hung up)."""

    stage: str
    user_id: int


class MediaClose(msgspec.Struct, tag="close"):
    """Close every peer of `stage` (the stage ended)."""

    stage: str


MediaRequest = MediaOffer | MediaUpdate | MediaDrop | MediaClose


class MediaReply(msgspec.Struct):
    """The answer to a `MediaOffer`: `sdp`, or an error `code` with a message."""

    req: str
    sdp: str | None = None
    code: str | None = None
    message: str = ""
