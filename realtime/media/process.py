"""`readalong media`: the Redis request loop (offers, updates, drops, closes from any web
node), the 20 ms mixing tick over every stage, and the heartbeat (`ra:media:alive` = this
process's epoch, expiring after 5 beats: the web nodes end the stages of a dead or restarted
media process with `stage_ended` `media_restarted`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid

import msgspec
from redis.asyncio import Redis

from domain.errors import DomainError
from domain.redisconn import connect
from domain.settings import Settings
from realtime.media.ice import restrict_host_addresses, rtc_configuration
from realtime.media.mix import CHUNK, RATE
from realtime.media.peers import MediaStage, Peer, ice_ufrag
from realtime.stage.store import ALIVE_KEY, REPLY_PREFIX, REQUESTS_KEY
from realtime.stage.wire import (
    MediaClose,
    MediaDrop,
    MediaOffer,
    MediaReply,
    MediaRequest,
    MediaUpdate,
)

log = logging.getLogger("readalong.media")
_decode = msgspec.json.Decoder(MediaRequest).decode
_encode = msgspec.json.Encoder().encode
TICK = CHUNK / RATE
# closing every peer at shutdown, all at once: well inside the supervisor's stop deadline (10 s
# for `serve --with-media`, then SIGKILL)
STOP_PEERS_S = 4.0


def alive_ttl_ms(settings: Settings) -> int:
    """The heartbeat key lives 5 beats: a process starved of CPU for a few seconds (many DTLS
    handshakes on a busy host) must not look dead."""
    return max(1, int(settings.media_heartbeat * 5000))


class MediaServer:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.epoch = uuid.uuid4().hex[:16]
        self.config = rtc_configuration(settings)
        self.stages: dict[str, MediaStage] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    def peers(self) -> int:
        return sum(len(s.peers) for s in self.stages.values())

    def _stage(self, room: str) -> MediaStage:
        stage = self.stages.get(room)
        if stage is None:
            stage = self.stages[room] = MediaStage(room)
        return stage

    async def handle(self, req: MediaRequest) -> None:
        match req:
            case MediaOffer():
                task = asyncio.create_task(self._offer(req))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            case MediaUpdate(stage=room, epoch=epoch, audible=audible):
                if epoch == self.epoch:
                    self._stage(room).audible = set(audible)
            case MediaDrop(stage=room, user_id=uid):
                if room in self.stages:
                    await self.stages[room].drop(uid)
            case MediaClose(stage=room):
                stage = self.stages.pop(room, None)
                if stage is not None:
                    await stage.close()

    async def _offer(self, req: MediaOffer) -> None:
        try:
            sdp = await self._answer(req)
            reply = MediaReply(req=req.req, sdp=sdp)
        except DomainError as exc:
            reply = MediaReply(req=req.req, code=exc.code, message=exc.detail)
        except Exception as exc:  # an aiortc failure on a strange offer: tell, stay up
            log.warning("media: offer failed", exc_info=True)
            reply = MediaReply(req=req.req, code="invalid_sdp", message=str(exc)[:200])
        key = REPLY_PREFIX + req.req
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, _encode(reply))
            pipe.expire(key, int(self.settings.media_timeout) + 5)
            await pipe.execute()

    async def _answer(self, req: MediaOffer) -> str:
        if req.epoch != self.epoch:
            raise DomainError("the media server restarted: the stage is over",
                              code="media_restarted")
        stage = self._stage(req.stage)
        stage.audible = set(req.audible)
        peer = stage.peers.get(req.user_id)
        if peer is not None and peer.ufrag != ice_ufrag(req.sdp):
            await stage.drop(req.user_id)  # another connection (a reload, another tab)
            stage = self._stage(req.stage)  # (the tick forgets a stage left without peers)
            stage.audible = set(req.audible)
            peer = None
        if peer is None:
            if len(stage.peers) >= self.settings.stage_max_listeners:
                raise DomainError("the stage has as many listeners as it may", code="stage_full")
            if self.peers() >= self.settings.media_max_peers:
                raise DomainError("the media server is full", code="media_full")
            peer = stage.peers[req.user_id] = Peer(stage, req.user_id, frozenset(req.hidden),
                                                   self.config)
        peer.hidden = frozenset(req.hidden)
        try:
            return await peer.answer(req.sdp)
        except DomainError:
            if stage.peers.get(req.user_id) is peer and peer.pc.remoteDescription is None:
                await stage.drop(req.user_id)
            raise

    async def requests(self) -> None:
        while not self.stopping.is_set():
            got = await self.redis.blpop([REQUESTS_KEY], timeout=1)  # type: ignore[misc]
            if got is None:
                continue
            try:
                req = _decode(got[1])
            except msgspec.DecodeError:
                log.warning("media: ignored a malformed request")
                continue
            if isinstance(req, MediaOffer) and req.deadline < time.time():
                continue  # its web node gave up already
            await self.handle(req)

    async def ticks(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.stopping.is_set():
            if not self.stages:  # idle: no tick to keep, look again in 100 ms
                await asyncio.sleep(0.1)
                due = loop.time()
                continue
            due += TICK
            delay = due - loop.time()
            if delay < -0.2:  # far behind (a stall): start over rather than burst
                due = loop.time()
            elif delay > 0:
                await asyncio.sleep(delay)
            for room, stage in list(self.stages.items()):
                if not stage.peers:  # nobody connected: the next offer brings `audible` back
                    del self.stages[room]
                    continue
                try:
                    stage.tick()
                except Exception:
                    log.exception("media: a mixing tick failed for %s", stage.room)

    async def heartbeat(self) -> None:
        ttl = alive_ttl_ms(self.settings)
        while not self.stopping.is_set():
            await self.redis.set(ALIVE_KEY, self.epoch, px=ttl)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.media_heartbeat)

    async def run(self) -> None:
        await self.redis.delete(REQUESTS_KEY)  # nothing queued before now is for this epoch
        await self.redis.set(ALIVE_KEY, self.epoch,
                             px=alive_ttl_ms(self.settings))
        log.info("media: serving, epoch %s", self.epoch)
        parts = [asyncio.create_task(p) for p in (self.requests(), self.ticks(),
                                                  self.heartbeat())]
        try:
            await self.stopping.wait()
        finally:
            for task in parts:
                task.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            # a clean stop ends the stages at once (the web nodes see no live epoch): first,
            # so no peer's close below can hold it up
            if await self.redis.get(ALIVE_KEY) == self.epoch.encode():
                await self.redis.delete(ALIVE_KEY)
            await self.close_all()

    async def close_all(self) -> None:
        """Every stage's peers closed at once, offers in flight cancelled, all of it bounded
        by STOP_PEERS_S (a peer whose DTLS/ICE close waits on a vanished client or TURN
        server is left to the process exit): one stage after another, each close's waits
        added up past the supervisor's kill deadline."""
        offers = list(self._tasks)
        for task in offers:
            task.cancel()
        stages, self.stages = list(self.stages.values()), {}
        try:
            async with asyncio.timeout(STOP_PEERS_S):
                await asyncio.gather(*offers, *(s.close() for s in stages),
                                     return_exceptions=True)
        except TimeoutError:
            log.warning("media: peers still closing after %.0f s of shutdown; exiting anyway",
                        STOP_PEERS_S)


async def serve(settings: Settings) -> None:
    assert settings.redis_url
    restrict_host_addresses(settings.media_host_addresses)
    redis = connect(settings.redis_url, decode_responses=False, socket_timeout=None)
    server = MediaServer(settings, redis)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopping.set)
    try:
        await server.run()
    finally:
        await redis.aclose()
