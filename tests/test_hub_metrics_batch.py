"""The hub's connect-path metrics are applied in batches (realtime/metrics.py): what an
operator scrapes shortly after is every update made before, summed; outside a running loop an
update shows at once."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from realtime.metrics import FLUSH_DELAY, HubMetrics
from tests.support import eventually


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def _shown(registry: CollectorRegistry, name: str, value: float, **labels: str) -> None:
    async def ok() -> bool:
        return _sample(registry, name, **labels) == value

    await eventually(ok, 10 + FLUSH_DELAY, 0.02)


async def test_updates_show_in_a_later_scrape_summed() -> None:
    registry = CollectorRegistry()
    m = HubMetrics(registry)
    for _ in range(3):
        m.connections.inc()
        m.subscriptions.inc()
        m.commands.inc("subscribe")
    m.connections.dec()
    m.rooms.set(4)
    m.rooms.set(5)  # the last value of the turn is the one kept
    m.errors.inc("invalid")
    await _shown(registry, "readalong_hub_connections", 2)
    assert _sample(registry, "readalong_hub_subscriptions") == 3
    assert _sample(registry, "readalong_hub_rooms") == 5
    assert _sample(registry, "readalong_hub_commands_total", type="subscribe") == 3
    assert _sample(registry, "readalong_hub_errors_total", code="invalid") == 1
    m.connections.dec(2)
    m.closes.inc("4001")
    await _shown(registry, "readalong_hub_connections", 0)
    assert _sample(registry, "readalong_hub_closes_total", code="4001") == 1


def test_outside_a_loop_an_update_shows_at_once() -> None:
    registry = CollectorRegistry()
    m = HubMetrics(registry)
    m.connections.inc()
    m.commands.inc("ping")
    assert _sample(registry, "readalong_hub_connections") == 1
    assert _sample(registry, "readalong_hub_commands_total", type="ping") == 1


def test_updates_left_by_a_loop_that_closed_are_not_lost() -> None:
    """A loop that ends before its batch is applied leaves the updates to the next one."""
    registry = CollectorRegistry()
    m = HubMetrics(registry)

    async def connect() -> None:
        m.connections.inc()

    asyncio.run(connect())
    m.connections.inc()  # outside a loop: applied at once, with what was left
    assert _sample(registry, "readalong_hub_connections") == 2
