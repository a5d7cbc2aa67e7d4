"""The media process's stages and peers: one RTCPeerConnection per (stage, user), answering the
client's offers (the first connects, later ones renegotiate the same connection), reading a
sender's audio into its `Inbox`, and sending the listener its mix through a `PacketTrack`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from domain.errors import DomainError
from realtime.media.mix import Inbox, Mixer, PacketTrack

log = logging.getLogger("readalong.media")


def ice_ufrag(sdp: str) -> str | None:
    """The offer's ICE username fragment: a new one means a new client connection (a page
    reload, another tab, an ICE restart) rather than a renegotiation of the same one."""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line.split(":", 1)[1].strip()
    return None


class Peer:
    def __init__(self, stage: MediaStage, user_id: int, hidden: frozenset[int],
                 config: RTCConfiguration) -> None:
        self.stage = stage
        self.user_id = user_id
        self.hidden = hidden
        self.pc = RTCPeerConnection(config)
        self.out = PacketTrack()
        self.inbox = Inbox()
        self.lock = asyncio.Lock()
        self.ufrag: str | None = None
        self._sending = False
        self._readers: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    async def answer(self, sdp: str) -> str:
        """Apply the client's offer and return the complete answer (candidates gathered)."""
        async with self.lock:
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except (ValueError, KeyError, IndexError) as exc:
                raise DomainError(f"bad offer: {exc}", code="invalid_sdp", field="sdp") from None
            if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
                raise DomainError("the offer has no audio", code="invalid_sdp", field="sdp")
            self.ufrag = ice_ufrag(sdp)
            if not self._sending:
                self.pc.addTrack(self.out)
                self._sending = True
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            return str(self.pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self.inbox.add(await track.recv())  # type: ignore[arg-type]

    def _on_state(self) -> None:
        if self.pc.connectionState == "failed":
            log.warning("media: the connection of user %s on %s failed", self.user_id,
                        self.stage.room)
        if self.pc.connectionState in ("failed", "closed"):
            self.stage.forget(self)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()


class MediaStage:
    """One stage's peers, who is heard, and its mixer."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.peers: dict[int, Peer] = {}
        self.audible: set[int] = set()
        self.mixer = Mixer()
        self._closing: set[asyncio.Task[None]] = set()

    def forget(self, peer: Peer) -> None:
        if self.peers.get(peer.user_id) is peer:
            del self.peers[peer.user_id]
            task = asyncio.create_task(peer.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def tick(self) -> None:
        chunks = {}
        for uid in self.audible:
            peer = self.peers.get(uid)
            chunk = peer.inbox.take() if peer is not None else None
            if chunk is not None:
                chunks[uid] = chunk
        for peer in self.peers.values():  # non-speakers' audio is drained, never heard
            if peer.user_id not in self.audible:
                peer.inbox.take()
        self.mixer.tick(chunks, self.audible,
                        ((p.user_id, p.hidden, p.out) for p in self.peers.values()))

    async def drop(self, user_id: int) -> None:
        peer = self.peers.pop(user_id, None)
        if peer is not None:
            await peer.close()

    async def close(self) -> None:
        """Every peer closed at once (those dropped before and still closing awaited too)."""
        peers, self.peers = list(self.peers.values()), {}
        await asyncio.gather(*(p.close() for p in peers), *self._closing,
                             return_exceptions=True)
