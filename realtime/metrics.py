"""Prometheus metrics of the hub (served on the app's /metrics with the default registry).

The updates a connect makes (the connection and subscription gauges, the room count, one
counter per command, error and close) are summed and applied at most every `FLUSH_DELAY`
seconds (`TurnBatch`): with the multiprocess store (`readalong serve`) each update is a locked
write into a memory-mapped file, six of them per connect and about as many per disconnect. A
scrape may so lag the sockets by that much.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# seconds the batched updates wait before they are applied (one loop timer per flush)
FLUSH_DELAY = 0.1


def _metric(registry: CollectorRegistry, cls: Any, name: str, doc: str, **kw: Any) -> Any:
    """Create a metric, or reuse the one already registered (several apps in one process)."""
    try:
        return cls(name, doc, registry=registry, **kw)
    except ValueError:
        return registry._names_to_collectors[name]


class TurnBatch:
    """Metric updates, summed (a gauge's `set`: the last value), applied FLUSH_DELAY seconds
    after the first of them (one loop timer for all); outside a running loop each is applied
    at once."""

    __slots__ = ("adds", "armed", "sets")

    def __init__(self) -> None:
        self.adds: dict[Any, float] = {}
        self.sets: dict[Any, float] = {}
        self.armed: asyncio.AbstractEventLoop | None = None  # the loop whose timer will flush

    def add(self, metric: Any, amount: float) -> None:
        adds = self.adds
        adds[metric] = adds.get(metric, 0.0) + amount
        armed = self.armed
        if armed is None or armed.is_closed():
            self._arm()

    def put(self, metric: Any, value: float) -> None:
        self.sets[metric] = value
        armed = self.armed
        if armed is None or armed.is_closed():
            self._arm()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self.armed = loop
        loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self.armed = None
        adds, self.adds = self.adds, {}
        sets, self.sets = self.sets, {}
        for metric, amount in adds.items():
            if amount:
                metric.inc(amount)
        for metric, value in sets.items():
            metric.set(value)


class Batched:
    """A gauge whose `inc`/`dec`/`set` go through a `TurnBatch`; it stands for the gauge
    otherwise."""

    __slots__ = ("batch", "metric")

    def __init__(self, metric: Any, batch: TurnBatch) -> None:
        self.metric = metric
        self.batch = batch

    def inc(self, amount: float = 1.0) -> None:
        self.batch.add(self.metric, amount)

    def dec(self, amount: float = 1.0) -> None:
        self.batch.add(self.metric, -amount)

    def set(self, value: float) -> None:
        self.batch.put(self.metric, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


class Labelled:
    """A counter with one label, its children looked up once per label value (`labels()`
    takes a lock and builds a key on every call; the read loop counts every command), counted
    through a `TurnBatch`; it stands for the counter otherwise."""

    __slots__ = ("batch", "children", "metric")

    def __init__(self, metric: Any, batch: TurnBatch) -> None:
        self.metric = metric
        self.batch = batch
        self.children: dict[str, Any] = {}

    def inc(self, value: str) -> None:
        child = self.children.get(value)
        if child is None:
            child = self.children[value] = self.metric.labels(value)
        self.batch.add(child, 1.0)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the counter's own (`labels()`, its name and type)."""
        return getattr(self.metric, name)


class HubMetrics:
    """The hub's counters, gauges and the fan-out latency histogram."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        def m(cls: Any, name: str, doc: str, **kw: Any) -> Any:
            return _metric(registry, cls, name, doc, **kw)

        batch = TurnBatch()  # (not an attribute: every attribute here is a metric)
        self.connections = Batched(m(Gauge, "readalong_hub_connections",
                                     "open WebSocket connections", multiprocess_mode="livesum"),
                                   batch)
        self.subscriptions = Batched(m(Gauge, "readalong_hub_subscriptions",
                                       "room subscriptions of local connections",
                                       multiprocess_mode="livesum"), batch)
        self.rooms = Batched(m(Gauge, "readalong_hub_rooms",
                               "rooms this node is subscribed to in Redis",
                               multiprocess_mode="livesum"), batch)
        self.events_in = m(Counter, "readalong_hub_events_in",
                           "room messages received from Redis pub/sub")
        self.events_out = m(Counter, "readalong_hub_events_out",
                            "frames written to clients by the fan-out")
        # by command type, error code, close code
        self.commands = Labelled(m(Counter, "readalong_hub_commands", "client commands",
                                   labelnames=["type"]), batch)
        self.errors = Labelled(m(Counter, "readalong_hub_errors", "error frames sent",
                                 labelnames=["code"]), batch)
        self.closes = Labelled(m(Counter, "readalong_hub_closes",
                                 "connections closed by the server", labelnames=["code"]), batch)
        self.slow_consumers = m(Counter, "readalong_hub_slow_consumer_disconnects",
                                "connections cut off because they fell behind")
        self.redis_reconnects = m(Counter, "readalong_hub_redis_reconnects",
                                  "times the pub/sub connection to Redis was re-established")
        self.fanout_latency = m(Histogram, "readalong_hub_fanout_latency_seconds",
                                "publish -> frames written to every local recipient",
                                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 0.5, 1.0, 2.5))
