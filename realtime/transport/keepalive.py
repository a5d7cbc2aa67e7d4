"""Keepalive pings of every socket of a process on one timer wheel, not a loop timer per socket.

uvicorn arms a `call_later` per socket for its next ping and another for each pong deadline:
a timer handle held by every idle socket, one made at every connect, and a burst of sockets
that connected together pings together, interval after interval. Here the sockets of one event
loop (and one ping interval and timeout) sit in slots of `tick` seconds; one loop timer per
tick visits the slot that is due, pings the sockets whose ping is due and judges the pong
deadlines that have come. A socket's first ping comes one interval after it opened plus up to
half an interval more (round robin over those slots: never sooner than uvicorn's), so a burst's
pings spread over half the interval and stay spread; after that it is pinged every interval,
as uvicorn does.

A socket that has not answered by its deadline is failed with 1011 (uvicorn's own
`keepalive_timeout`), unless it still holds bytes the server has not read (the pong may be
among them): then its deadline moves by the ping timeout, at most `MAX_EXTENSIONS` times per
ping (`realtime.transport.upgrade.HubWebSocketProtocol` owns the per-socket side).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Protocol

# how many times one ping's pong deadline is pushed back while the socket holds unread bytes
MAX_EXTENSIONS = 3
# slots per (shorter of) ping interval and timeout, and the bounds of a slot's width (seconds)
SLOTS = 8
MIN_TICK = 0.01
MAX_TICK = 1.0


class Pinged(Protocol):
    """What the wheel needs of a socket (`HubWebSocketProtocol`)."""

    ka_bucket: set[Any] | None
    ka_ping_at: int
    ka_deadline: int | None

    def keepalive_due(self, wheel: KeepaliveWheel, slot: int) -> None: ...


def tick_for(interval: float, timeout: float | None) -> float:
    """The slot width for a ping interval and timeout (a fraction of the shorter one)."""
    shorter = interval if timeout is None else min(interval, timeout)
    return min(MAX_TICK, max(MIN_TICK, shorter / SLOTS))


class KeepaliveWheel:
    """The sockets of one loop with one interval and timeout, by the slot they are next due
    in. Slot `k` is due at `origin + k * tick` on the loop's clock; the one timer is armed
    while any slot is filled, and the wheel leaves the registry when none is."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float,
                 timeout: float | None) -> None:
        self.loop = loop
        self.key = (loop, interval, timeout)
        self.tick = tick_for(interval, timeout)
        self.ping_slots = max(1, round(interval / self.tick))
        self.pong_slots = None if timeout is None else max(1, math.ceil(timeout / self.tick))
        self.spread = max(1, self.ping_slots // 2)
        self.turn = 0  # the round robin over the first pings' slots
        self.buckets: dict[int, set[Any]] = {}
        self.origin = loop.time()
        self.next = 1  # the next slot to visit
        self.handle: asyncio.TimerHandle | None = None

    def now(self) -> int:
        """The slot being visited, or the last one visited."""
        return self.next - 1

    def start(self, sock: Pinged) -> None:
        """A socket just opened: its first ping one interval on, plus `turn` slots (round
        robin over half an interval)."""
        turn = self.turn
        self.turn = turn + 1 if turn + 1 < self.spread else 0
        at = self.now() + self.ping_slots + turn
        sock.ka_ping_at = at
        sock.ka_deadline = None
        self.put(sock, at)

    def put(self, sock: Pinged, slot: int) -> None:
        """Into the slot `slot` (later than the one being visited)."""
        bucket = self.buckets.get(slot)
        if bucket is None:
            bucket = self.buckets[slot] = set()
        bucket.add(sock)
        sock.ka_bucket = bucket
        if self.handle is None:
            self._arm()

    def after_ping(self, sock: Pinged, slot: int) -> None:
        """The socket was pinged in `slot`: the next ping one interval on, its deadline."""
        at = sock.ka_ping_at = slot + self.ping_slots
        if self.pong_slots is None:
            sock.ka_deadline = None
        else:
            deadline = sock.ka_deadline = slot + self.pong_slots
            at = min(at, deadline)
        self.put(sock, at)

    @staticmethod
    def stop(sock: Pinged) -> None:
        bucket, sock.ka_bucket = sock.ka_bucket, None
        if bucket is not None:
            bucket.discard(sock)

    def _arm(self) -> None:
        self.handle = self.loop.call_at(self.origin + self.next * self.tick, self._visit)

    def _visit(self) -> None:
        self.handle = None
        # every slot whose time has come (a late loop visits the ones it missed, in order)
        last = max(self.next, int((self.loop.time() - self.origin) / self.tick))
        buckets = self.buckets
        while self.next <= last:
            slot = self.next
            self.next = slot + 1
            bucket = buckets.pop(slot, None)
            for sock in bucket or ():
                sock.ka_bucket = None
                sock.keepalive_due(self, slot)
        if buckets:
            if self.handle is None:
                self._arm()
        elif _WHEELS.get(self.key) is self:
            del _WHEELS[self.key]
            if self.handle is not None:  # (nothing left to visit)
                self.handle.cancel()
                self.handle = None


_WHEELS: dict[tuple[Any, float, float | None], KeepaliveWheel] = {}


def wheel_for(loop: asyncio.AbstractEventLoop, interval: float,
              timeout: float | None) -> KeepaliveWheel:
    """The wheel of this loop for this interval and timeout (made at its first socket)."""
    wheel = _WHEELS.get((loop, interval, timeout))
    if wheel is None:
        wheel = _WHEELS[(loop, interval, timeout)] = KeepaliveWheel(loop, interval, timeout)
    return wheel
