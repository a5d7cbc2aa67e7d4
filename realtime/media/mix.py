"""Mixing and encode-once fan-out. Speakers' decoded audio comes in as 48 kHz mono PCM; each
20 ms tick takes one 960-sample chunk per audible speaker, groups a stage's listeners by the
set of speakers they hear, sums each group's speakers once and encodes that mix once with its
own Opus encoder; every listener of the group gets the same packets, which aiortc only
packetises and encrypts (a `PacketTrack` yields `av.Packet`s: no re-encoding per listener)."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Iterable
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame, CodecContext, Packet

RATE = 48_000
CHUNK = 960  # 20 ms
TIME_BASE = fractions.Fraction(1, RATE)
BITRATE = 32_000
MAX_BUFFER = CHUNK * 6  # a speaker's backlog beyond 120 ms is dropped (oldest first)


class PacketTrack(MediaStreamTrack):
    """What one listener receives: Opus packets put by the mixer, with this track's own
    timestamps (20 ms apart), at most 10 waiting (older ones are dropped)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
        self._pts = 0

    def put(self, data: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(data)

    async def recv(self) -> Packet:  # type: ignore[type-arg]
        data = await self._queue.get()
        packet = Packet(data)
        packet.pts = self._pts
        packet.time_base = TIME_BASE
        self._pts += CHUNK
        return packet


class Inbox:
    """A speaker's decoded audio waiting for the next ticks (mono int16 at 48 kHz)."""

    def __init__(self) -> None:
        self.buf = np.zeros(0, dtype=np.int16)

    def add(self, frame: AudioFrame) -> None:
        pcm = frame.to_ndarray()
        if frame.format.is_planar or pcm.shape[0] > 1:
            mono = pcm[0]
        else:
            mono = pcm.reshape(-1, len(frame.layout.channels))[:, 0]
        self.buf = np.concatenate([self.buf, mono.astype(np.int16)])[-MAX_BUFFER:]

    def take(self) -> np.ndarray | None:
        if len(self.buf) < CHUNK:
            return None
        chunk, self.buf = self.buf[:CHUNK], self.buf[CHUNK:]
        return chunk


def new_encoder() -> Any:
    codec = CodecContext.create("libopus", "w")
    codec.bit_rate = BITRATE
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = RATE
    codec.time_base = TIME_BASE
    codec.options = {"application": "voip"}
    return codec


class Mixer:
    """One stage's encoders, one per distinct set of heard speakers (kept while in use)."""

    def __init__(self) -> None:
        self._encoders: dict[frozenset[int], tuple[Any, list[int]]] = {}
        self.encoded = 0  # mixes encoded so far (the benchmark reads it)

    def tick(self, chunks: dict[int, np.ndarray], audible: set[int],
             listeners: Iterable[tuple[int, frozenset[int], PacketTrack]]) -> None:
        groups: dict[frozenset[int], list[PacketTrack]] = {}
        for uid, hidden, track in listeners:
            key = frozenset(u for u in audible if u != uid and u not in hidden)
            groups.setdefault(key, []).append(track)
        for key, tracks in groups.items():
            codec, pts = self._encoders.get(key) or (new_encoder(), [0])
            self._encoders[key] = (codec, pts)
            mixed = np.zeros(CHUNK, dtype=np.int32)
            for u in key:
                chunk = chunks.get(u)
                if chunk is not None:
                    mixed += chunk
            frame = AudioFrame.from_ndarray(
                np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1),
                format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = pts[0]
            frame.time_base = TIME_BASE
            pts[0] += CHUNK
            self.encoded += 1
            for packet in codec.encode(frame):
                data = bytes(packet)
                for track in tracks:
                    track.put(data)
        for key in [k for k in self._encoders if k not in groups]:
            del self._encoders[key]
