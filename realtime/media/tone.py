"""A test signal: an aiortc audio track playing a sine tone, paced in real time (48 kHz mono,
20 ms frames). The tests and `python -m load audio` use it as a speaker's microphone."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame

from realtime.media.mix import CHUNK, RATE, TIME_BASE


class Tone(MediaStreamTrack):
    """A microphone that plays a sine of `hz` Hz at `amplitude` (of 32767)."""

    kind = "audio"

    def __init__(self, hz: float, amplitude: int = 8000) -> None:
        super().__init__()
        self.hz = hz
        self.amplitude = amplitude
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(CHUNK) + self._n) / RATE
        pcm = (np.sin(2 * np.pi * self.hz * t) * self.amplitude).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._n
        frame.time_base = TIME_BASE
        self._n += CHUNK
        return frame
