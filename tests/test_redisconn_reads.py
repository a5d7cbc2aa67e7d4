"""The app's Redis client (`domain.redisconn.connect`): replies read without a timeout when
they are already in, and the same answers and errors as redis-py's own reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ResponseError

from domain import redisconn


async def test_a_pipeline_gets_every_reply_in_order_and_its_error_in_place(engines: Any) -> None:
    """A pipeline's replies (all arriving in one read) come back in order, and a command that
    fails answers with its error where it stands, not as a broken connection."""
    client = redisconn.connect(engines.redis_url, socket_timeout=5)
    try:
        await client.delete("rc:h", "rc:s")
        pipe = client.pipeline(transaction=False)
        for i in range(50):
            pipe.hset("rc:h", str(i), f"v{i}")
        pipe.set("rc:s", "text")
        pipe.hget("rc:s", "x")  # WRONGTYPE
        for i in range(50):
            pipe.hget("rc:h", str(i))
        got = await pipe.execute(raise_on_error=False)
        assert got[:50] == [1] * 50
        assert isinstance(got[51], ResponseError)
        assert got[52:] == [f"v{i}".encode() for i in range(50)]
        with pytest.raises(ResponseError):
            await client.hget("rc:s", "x")
        assert await client.get("rc:s") == b"text"  # the connection lives on
    finally:
        await client.delete("rc:h", "rc:s")
        await client.aclose()


async def test_a_reply_not_in_yet_is_still_bounded_by_the_socket_timeout(engines: Any) -> None:
    """A reply that has to be waited for still times out (the client does not hang)."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    client = redisconn.connect(engines.redis_url, socket_timeout=0.3)
    other = redisconn.connect(engines.redis_url)
    try:
        await client.delete("rc:list")
        with pytest.raises(RedisTimeoutError):
            await client.blpop(["rc:list"], timeout=5)
        await other.rpush("rc:list", "x")
        assert await asyncio.wait_for(client.lpop("rc:list"), 5) == b"x"
    finally:
        await client.delete("rc:list")
        await client.aclose()
        await other.aclose()
