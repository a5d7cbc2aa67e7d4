"""Test and benchmark support for audio stages: the media process as a child process, an
aiortc client peer (a sine-tone microphone, the received audio's energy and frequency), and the
stage's signalling over a hub socket (`tests.test_sessions_helpers.WS`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from redis.asyncio import Redis

from domain.settings import load_settings
from realtime.media.ice import restrict_host_addresses, rtc_configuration
from realtime.stage.store import ALIVE_KEY
from server.engines import kill_process, stop_process
from tests.support import ROOT

RATE = 48_000
LOOPBACK = {"READALONG_MEDIA_HOST_ADDRESSES": "127.0.0.1"}


class MediaProcess:
    """`python -m server.cli media` on the tests' Redis, gathering loopback candidates only."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**env, **LOOPBACK}
        self.log_path = log_dir / "media.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, redis_url: str, timeout: float = 30.0) -> MediaProcess:
        redis = Redis.from_url(redis_url)
        try:
            before = await redis.get(ALIVE_KEY)
            self.proc = self._spawn()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                now = await redis.get(ALIVE_KEY)
                if now is not None and now != before:
                    self.epoch = now.decode()
                    return self
                if self.proc.poll() is not None:
                    raise RuntimeError(f"media exited: {self.log_path.read_text()[-2000:]}")
                await asyncio.sleep(0.05)
            raise RuntimeError("the media process did not start")
        finally:
            await redis.aclose()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "server.cli", "media"], cwd=ROOT,
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
            self.proc = None


def spectrum(samples: np.ndarray) -> tuple[float, float]:
    """(RMS, dominant frequency in Hz) of mono samples at 48 kHz."""
    x = samples.astype(np.float64)
    rms = float(np.sqrt((x ** 2).mean())) if len(x) else 0.0
    if rms < 1.0:
        return rms, 0.0
    mags = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return rms, float(np.argmax(mags) * RATE / len(x))


class Peer:
    """One client's RTCPeerConnection to the media process, signalled over a hub socket."""

    def __init__(self, ws: Any, room: str) -> None:
        restrict_host_addresses(["127.0.0.1"])
        self.ws = ws
        self.room = room
        self.pc = RTCPeerConnection(rtc_configuration(load_settings({})))
        self.audio: list[np.ndarray] = []
        self.first_audio: float | None = None
        self._reader: asyncio.Task[None] | None = None
        self.transceiver = self.pc.addTransceiver("audio", direction="recvonly")

    async def connect(self, mic: MediaStreamTrack | None = None) -> dict[str, Any]:
        """Offer (sendrecv with a microphone, else recvonly) and apply the answer."""
        if mic is not None:
            self.transceiver.direction = "sendrecv"
            self.transceiver.sender.replaceTrack(mic)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await self.ws.publish(self.room, {"type": "offer",
                                                  "sdp": self.pc.localDescription.sdp})
        if reply["type"] != "ack":
            return reply
        from aiortc import RTCSessionDescription
        await self.pc.setRemoteDescription(RTCSessionDescription(reply["result"]["sdp"],
                                                                 "answer"))
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(self.transceiver.receiver.track))
        return reply

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                pcm = frame.to_ndarray().reshape(-1, 2)[:, 0]  # type: ignore[union-attr]
                if self.first_audio is None and np.abs(pcm).max() > 500:
                    self.first_audio = time.monotonic()
                self.audio.append(pcm)
        except MediaStreamError:
            return

    async def listen(self, seconds: float = 0.6, timeout: float = 15.0) -> tuple[float, float]:
        """(RMS, dominant Hz) of the next `seconds` of received audio."""
        start = len(self.audio)
        need = int(seconds * RATE / 960)
        deadline = time.monotonic() + timeout
        while len(self.audio) - start < need:
            if time.monotonic() > deadline:
                raise AssertionError(f"no audio frames within {timeout}s")
            await asyncio.sleep(0.05)
        return spectrum(np.concatenate(self.audio[start:start + need]))

    async def heard(self, pred: Any, timeout: float = 15.0) -> tuple[float, float]:
        """Listen in windows until (rms, hz) satisfies `pred` (the last window if never)."""
        deadline = time.monotonic() + timeout
        while True:
            got = await self.listen(0.4, timeout)
            if pred(*got) or time.monotonic() > deadline:
                return got

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()
