"""Prometheus metrics of the hub (served on the app's /metrics with the default registry)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


def _metric(registry: CollectorRegistry, cls: Any, name: str, doc: str, **kw: Any) -> Any:
    """Create a metric, or reuse the one already registered (several apps in one process)."""
    try:
        return cls(name, doc, registry=registry, **kw)
    except ValueError:
        return registry._names_to_collectors[name]


class Labelled:
    """A counter with one label, its children looked up once per label value (`labels()`
    takes a lock and builds a key on every call; the read loop counts every command); it
    stands for the counter otherwise."""

    __slots__ = ("children", "metric")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[str, Any] = {}

    def inc(self, value: str) -> None:
        child = self.children.get(value)
        if child is None:
            child = self.children[value] = self.metric.labels(value)
        child.inc()

    def __getattr__(self, name: str) -> Any:
        """Everything else is the counter's own (`labels()`, its name and type)."""
        return getattr(self.metric, name)


class HubMetrics:
    """The hub's counters, gauges and the fan-out latency histogram."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        def m(cls: Any, name: str, doc: str, **kw: Any) -> Any:
            return _metric(registry, cls, name, doc, **kw)

        self.connections = m(Gauge, "readalong_hub_connections", "open WebSocket connections",
                             multiprocess_mode="livesum")
        self.subscriptions = m(Gauge, "readalong_hub_subscriptions",
                               "room subscriptions of local connections",
                               multiprocess_mode="livesum")
        self.rooms = m(Gauge, "readalong_hub_rooms", "rooms this node is subscribed to in Redis",
                        multiprocess_mode="livesum")
        self.events_in = m(Counter, "readalong_hub_events_in",
                           "room messages received from Redis pub/sub")
        self.events_out = m(Counter, "readalong_hub_events_out",
                            "frames written to clients by the fan-out")
        # by command type, error code, close code
        self.commands = Labelled(m(Counter, "readalong_hub_commands", "client commands",
                                   labelnames=["type"]))
        self.errors = Labelled(m(Counter, "readalong_hub_errors", "error frames sent",
                                 labelnames=["code"]))
        self.closes = Labelled(m(Counter, "readalong_hub_closes",
                                 "connections closed by the server", labelnames=["code"]))
        self.slow_consumers = m(Counter, "readalong_hub_slow_consumer_disconnects",
                                "connections cut off because they fell behind")
        self.redis_reconnects = m(Counter, "readalong_hub_redis_reconnects",
                                  "times the pub/sub connection to Redis was re-established")
        self.fanout_latency = m(Histogram, "readalong_hub_fanout_latency_seconds",
                                "publish -> frames written to every local recipient",
                                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25, 0.5, 1.0, 2.5))
