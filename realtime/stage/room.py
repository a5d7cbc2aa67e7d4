"""The `stage:<place>` room kind: a live audio stage's signalling and state, for
`stage:session:<id>` (a co-reading session) and `stage:club_event:<id>` (a club event).
Members of the place subscribe (presence: the audience); commands are `publish.data` of the
closed `StageCommand` union; every change is one `stage` event with the whole state; the audio
itself flows between each client and the media process (`readalong media`), signalled here."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.audio import places, speaking
from domain.audio import stage as rules
from domain.audio.stage import Stage
from domain.db import Database
from domain.errors import Conflict, DomainError
from domain.settings import Settings
from domain.social.rules import blocked_ids
from realtime.rooms.base import (
    DEFAULT_VIEWER,
    ConnectionInfo,
    HubContext,
    RoomEvent,
    RoomKind,
    Viewer,
)
from realtime.rooms.discussion_commands import decode
from realtime.stage import wire
from realtime.stage.ice import ice_servers
from realtime.stage.media_client import MediaClient
from realtime.stage.store import StageStore, now

log = logging.getLogger("readalong.audio")
PLACE_CHECK_EVERY = 3  # sweeps between checks that the stages' sessions/events still run


def place_of(room_id: str) -> str:
    place = room_id.partition(":")[2] if room_id.startswith("stage:") else room_id
    places.parse(place)
    return place


def stage_out(stage: Stage) -> wire.StageOut:
    muted = set(stage.self_muted) | set(stage.host_muted)
    return wire.StageOut(place=stage.place, host_id=stage.host_id,
                         max_speakers=stage.max_speakers, speakers=list(stage.speakers),
                         hands=list(stage.hands), invited=list(stage.invited),
                         muted=[u for u in stage.speakers if u in muted],
                         host_muted=list(stage.host_muted), version=stage.version,
                         opened_at=stage.opened_at)


def _event(ev: wire.StageChanged | wire.StageEnded) -> RoomEvent:
    """The room event of a typed stage event (its tag names it; the data carries `type`)."""
    return RoomEvent("stage" if isinstance(ev, wire.StageChanged) else "stage_ended",
                     msgspec.to_builtins(ev))


class StageRoom(RoomKind):
    """Admission through the place's rules (`domain.audio.places`), the stage's rules
    (`domain.audio.stage`) on the state in Redis (`StageStore`), offers to the media process."""

    prefix = "stage"
    keeps_history = False
    accepts_publish = True
    presence = True
    events = wire.StageEvent
    commands = wire.StageCommand

    def __init__(self, db: Database, redis: Redis, settings: Settings,
                 media_redis: Redis | None = None) -> None:
        self.db = db
        self.settings = settings
        self.store = StageStore(redis)
        self.media = MediaClient(media_redis or redis, settings.media_timeout)
        self._watcher: asyncio.Task[None] | None = None
        self._missing = False  # the heartbeat was missing at the last sweep
        self._sweeps = 0

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        place = place_of(room_id)
        stage = await self.store.get(f"stage:{place}")
        await places.standing(self.db, place, _principal(conn),
                              stage.host_id if stage else None)
        return DEFAULT_VIEWER

    async def on_publish(self, hub: HubContext, conn: ConnectionInfo, room_id: str,
                         data: dict[str, Any]) -> tuple[list[RoomEvent], dict[str, Any]]:
        place = place_of(room_id)
        room = f"stage:{place}"
        cmd = decode(data, wire.StageCommand, "stage command")
        current = await self.store.get(room)
        who = await places.standing(self.db, place, _principal(conn),
                                    current.host_id if current else None)
        uid = conn.user_id
        match cmd:
            case wire.StateCmd():
                out = stage_out(current) if current else None
                return [], {"stage": msgspec.to_builtins(out), "manager": who.manager,
                            "ice_servers": ice_servers(self.settings)}
            case wire.OpenCmd(max_speakers=n):
                return [], await self._open(hub, room, who, uid, n, current)
            case wire.CloseCmd():
                if not who.manager:
                    raise DomainError("only the stage's host or a moderator may close it",
                                      code="not_stage_host")
                await self.end(hub, room, "closed")
                return [], {}
            case wire.OfferCmd(sdp=sdp):
                if current is None:
                    raise DomainError("no stage is open here", code="no_stage", field="room")
                if current.media_epoch != await self.store.media_epoch():
                    raise DomainError("the media server restarted: the stage is over",
                                      code="media_restarted")
                hidden = sorted(await blocked_ids(self.db, uid))
                answer = await self.media.offer(room, current.media_epoch, uid, sdp, hidden,
                                                sorted(rules.audible(current)))
                return [], {"type": "answer", "sdp": answer}
            case wire.HangupCmd():
                await self.media.send(wire.MediaDrop(stage=room, user_id=uid))
                if current is not None and uid in {*current.speakers, *current.hands,
                                                   *current.invited} and uid != current.host_id:
                    await self._change(hub, room, lambda s: rules.leave(s, uid))
                return [], {}
            case wire.HandCmd(raised=raised):
                st = await self._change(hub, room, lambda s: rules.raise_hand(s, uid, raised))
            case wire.InviteCmd(user_id=target):
                st = await self._change(hub, room,
                                        lambda s: rules.invite(s, who.manager, target))
            case wire.AcceptCmd(accepted=accepted):
                st = await self._change(hub, room, lambda s: rules.accept(s, uid, accepted))
            case wire.ListenCmd(user_id=target):
                st = await self._change(hub, room, lambda s: rules.to_listener(
                    s, uid, who.manager, target or uid))
            case wire.MuteCmd(muted=muted, user_id=target):
                st = await self._change(hub, room, lambda s: rules.mute(
                    s, uid, who.manager, target or uid, muted))
        return [], {"stage": msgspec.to_builtins(stage_out(st))}

    async def _open(self, hub: HubContext, room: str, who: places.Standing, uid: int,
                    n: int | None, current: Stage | None) -> dict[str, Any]:
        if not who.manager:
            raise DomainError("only the host or a moderator may open a stage here",
                              code="not_stage_host")
        epoch = await self.store.media_epoch()
        if epoch is None:
            raise DomainError("the media server is not running", code="media_unavailable")
        if current is not None and current.media_epoch != epoch:
            await self.end(hub, room, "media_restarted", current.media_epoch)
        stage = rules.new_stage(who.place, uid, n or self.settings.stage_max_speakers, epoch,
                                now())
        if not await self.store.create(room, stage):
            raise Conflict("a stage is already open here", code="stage_open")
        await self._announce(hub, room, stage)
        return {"stage": msgspec.to_builtins(stage_out(stage))}

    async def _change(self, hub: HubContext, room: str, rule: Any) -> Stage:
        """Apply one rule to the stored stage, then record speaking time, tell the room and
        the media process who is heard now."""
        t = now()
        before, after = await self.store.change(room, lambda s: rules.settle(rule(s), t)[0])
        spoken = {u: t - since for u, since in before.speaking_since.items()
                  if u not in after.speaking_since}
        await speaking.add(self.db, after.place, spoken)
        await self._announce(hub, room, after)
        return after

    async def _announce(self, hub: HubContext, room: str, stage: Stage) -> None:
        await self.media.send(wire.MediaUpdate(stage=room, epoch=stage.media_epoch,
                                               audible=sorted(rules.audible(stage))))
        await hub.publish(room, _event(wire.StageChanged(stage=stage_out(stage))))

    async def end(self, hub: HubContext, room: str, reason: str, epoch: str = "") -> bool:
        """End the stage (once, whichever node gets there first): speaking time, the media
        process's peers, a `stage_ended` event."""
        ended = await self.store.end(room, epoch)
        if ended is None:
            return False
        await speaking.add(self.db, ended.place, rules.spoken_until(ended, now()))
        await self.media.send(wire.MediaClose(stage=room))
        await hub.publish(room, _event(wire.StageEnded(place=ended.place,
                                                       reason=reason)))  # type: ignore[arg-type]
        return True

    # -- the watcher: stages whose media process is gone end with `media_restarted` ------------
    def start_watcher(self, hub: HubContext) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(hub))

    async def stop_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    async def _watch(self, hub: HubContext) -> None:
        while True:
            await asyncio.sleep(self.settings.media_heartbeat)
            try:
                await self.sweep(hub)
            except Exception:  # Redis or PostgreSQL away for a moment: next round
                log.warning("audio: stage sweep failed", exc_info=True)

    async def sweep(self, hub: HubContext) -> int:
        """End every open stage whose media epoch is not the live one (one pass): at once when
        another media process beats, after two sweeps in a row when none does."""
        alive = await self.store.media_epoch()
        was_missing, self._missing = self._missing, alive is None
        if alive is None and not was_missing:
            return 0  # one sweep without a heartbeat is not a death yet
        ended = 0
        rooms = await self.store.rooms()
        self._sweeps += 1
        if rooms and self._sweeps % PLACE_CHECK_EVERY == 0:  # sessions ended, events cancelled
            live = await places.still_open(self.db, [place_of(r) for r in rooms])
            for room in rooms:
                if place_of(room) not in live:
                    ended += await self.end(hub, room, "place_ended")
        for room in rooms:
            stage = await self.store.get(room)
            if stage is None:
                await self.store.end(room)
            elif stage.media_epoch != alive:
                ended += await self.end(hub, room, "media_restarted", stage.media_epoch)
        return ended


def _principal(conn: ConnectionInfo) -> Principal:
    return Principal(user_id=conn.user_id, role=conn.role, jti="", exp=0)
