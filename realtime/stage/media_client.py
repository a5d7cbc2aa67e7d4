"""How a web process talks to the media process: requests pushed on one Redis list, each offer
answered on a list of its own (so any web node can signal for any stage, and a reply survives
the requester's socket moving to another node only as long as the request's deadline)."""

from __future__ import annotations

import time
import uuid

import msgspec
from redis.asyncio import Redis

from domain.errors import DomainError
from realtime.stage.store import REPLY_PREFIX, REQUESTS_KEY
from realtime.stage.wire import MediaOffer, MediaReply, MediaRequest

_encode = msgspec.json.Encoder().encode
_reply = msgspec.json.Decoder(MediaReply).decode


class MediaClient:
    def __init__(self, redis: Redis, timeout: float = 10.0) -> None:
        self.redis = redis
        self.timeout = timeout

    async def send(self, request: MediaRequest) -> None:
        """Fire and forget (updates, drops, closes): the media process applies them in order."""
        await self.redis.rpush(REQUESTS_KEY, _encode(request))  # type: ignore[misc]

    async def offer(self, stage: str, epoch: str, user_id: int, sdp: str, hidden: list[int],
                    audible: list[int]) -> str:
        """The media process's SDP answer to `sdp`, or DomainError (`media_unavailable` when
        it does not answer in time, or the media process's own code)."""
        req = uuid.uuid4().hex
        await self.send(MediaOffer(req=req, stage=stage, epoch=epoch, user_id=user_id, sdp=sdp,
                                   hidden=hidden, audible=audible,
                                   deadline=time.time() + self.timeout))
        got = await self.redis.blpop([REPLY_PREFIX + req],  # type: ignore[misc]
                                     timeout=self.timeout)  # type: ignore[arg-type]
        if got is None:
            raise DomainError("the media server did not answer; retry", code="media_unavailable")
        reply = _reply(got[1])
        if reply.sdp is None:
            raise DomainError(reply.message or "the media server refused the offer",
                              code=reply.code or "media_refused", field="sdp")
        return reply.sdp
