"""Cluster mode units: room key naming (one slot per room), the URL scheme, the settings it
needs, the room scripts' sharded variant and per-slot key grouping."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from domain.redisconn import (
    ClusterClient,
    cluster_auth,
    cluster_seeds,
    is_cluster_url,
    slot_groups,
)
from domain.settings import SettingsError, load_settings
from realtime.keys import room_channel, room_key, room_of
from realtime.publisher import PUBLISH_LUA, script_for


def test_room_keys_share_the_room_slot() -> None:
    """A room's stream, meta, presence and channel land on one slot, so its scripts work."""
    room = "session:42"
    assert room_key(room, "stream") == "ra:{session:42}:stream"
    names = [room_key(room, p) for p in ("stream", "meta", "pres")] + [room_channel(room)]
    assert len({key_slot(n.encode()) for n in names}) == 1
    assert key_slot(room_key(room, "stream").encode()) == key_slot(room.encode())


def test_room_of_reads_the_room_back() -> None:
    """The room is read back from a key or channel; foreign names give None."""
    assert room_of(room_channel("user:7")) == "user:7"
    assert room_of(room_key("club:3:chat", "meta").encode()) == "club:3:chat"
    assert room_of("ra:rl:login:x") is None
    assert room_of("ra:{unterminated") is None


def test_distinct_rooms_spread_over_slots() -> None:
    """Many rooms spread over many slots (so a cluster shares the load)."""
    slots = {key_slot(room_channel(f"session:{i}").encode()) for i in range(200)}
    assert len(slots) > 150


def test_cluster_url_names_every_seed_node() -> None:
    """`redis+cluster://a:1,b:2` selects cluster mode with both seed nodes; plain URLs don't."""
    url = "redis+cluster://user:pw@10.0.0.1:7000,10.0.0.2:7001"
    assert is_cluster_url(url) and not is_cluster_url("redis://127.0.0.1:6379/0")
    assert not is_cluster_url("unix:///tmp/valkey.sock") and not is_cluster_url(None)
    assert cluster_seeds(url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert cluster_auth(url) == {"ssl": False, "username": "user", "password": "pw"}
    assert cluster_auth("rediss+cluster://h:1")["ssl"] is True
    with pytest.raises(ValueError, match="host:port"):
        cluster_seeds("redis+cluster://nohost")


def test_cluster_mode_needs_a_queue_instance() -> None:
    """A cluster REDIS_URL without READALONG_QUEUE_URL is refused with a message saying why;
    a cluster queue URL is refused too."""
    base = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis+cluster://h:7000"}
    with pytest.raises(SettingsError, match="READALONG_QUEUE_URL"):
        load_settings(base)
    ok = load_settings({**base, "READALONG_QUEUE_URL": "redis://h:6379/0"})
    assert ok.queue_url == "redis://h:6379/0"
    with pytest.raises(SettingsError, match="single instance"):
        load_settings({**base, "READALONG_QUEUE_URL": "redis+cluster://h:7000"})


def test_cluster_scripts_spublish_and_check_the_writer() -> None:
    """In cluster mode the room scripts SPUBLISH (to the room's shard) and check the node that
    wrote the history; on one instance they PUBLISH and do not."""
    sharded, single = script_for(PUBLISH_LUA, True), script_for(PUBLISH_LUA, False)
    assert "'SPUBLISH'" in sharded and "local SHARDED = true" in sharded
    assert "'SPUBLISH'" not in single and "local SHARDED = false" in single


def test_slot_groups_split_keys_per_slot_only_in_cluster_mode() -> None:
    """Many-key scripts get one group on one instance and one group per slot on a cluster."""
    keys = [f"ra:feed:{i}" for i in range(50)]
    single = Redis()
    assert slot_groups(single, keys) == [keys]
    cluster = ClusterClient.__new__(ClusterClient)  # (no connection needed to group keys)
    groups = slot_groups(cluster, keys)
    assert sorted(k for g in groups for k in g) == sorted(keys)
    assert all(len({key_slot(k.encode()) for k in g}) == 1 for g in groups)
    assert isinstance(cluster, Redis)  # handlers declare `redis: Redis`
