"""The Redis round trips of connection set-up, merged: what every socket asks for in one
event-loop turn (the revocation check of each auth, each subscribe's history read and presence
join) goes out as one pipeline, one write and one read for all of them.

A reconnect storm is thousands of sockets doing the same few small commands at once; sent one
by one, each is a pooled connection, a write and a read (the profile of a 2,000-socket connect
burst spent a quarter of the server's samples in those writes). `TurnRedis` is a stand-in for
the client with just the calls the set-up path makes (`mget`, `eval`, `evalsha`,
`script_load`); the callers' code and their Lua stay as they are. On a cluster client it is not
used (keys of one turn are on many slots; redis-py's cluster client sends per node anyway).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.redisconn import is_cluster

# loop turns a batch stays open: a burst's sockets read their frames over successive turns
TURNS = 4

# (command name, positional args)
Op = tuple[str, tuple[Any, ...]]


def pack(encode: Any, commands: Any) -> bytes:
    """A pipeline's commands in RESP, as redis-py's `pack_commands` writes them (a command name
    with a space is two words, ints as decimal, anything else through redis-py's encoder),
    as one buffer: the set-up commands are a few short strings each, for which redis-py's
    general packer (chunking, per-argument encoder calls) is most of the client's CPU."""
    out: list[bytes] = []
    for args, _ in commands:
        name = args[0]
        words = name.encode().split() if isinstance(name, str) else name.split()
        out.append(b"*%d\r\n" % (len(words) + len(args) - 1))
        for arg in (*words, *args[1:]):
            kind = type(arg)
            data = arg if kind is bytes else b"%d" % arg if kind is int else encode(arg)
            out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


class TurnPipeline(Pipeline):
    """A non-transactional pipeline, packed by `pack` and read under one `socket_timeout` for
    the whole batch: redis-py reads each reply in its own `asyncio.timeout` (a loop timer armed
    and cancelled, about 9 us on uvloop), i.e. one per set-up command of every connecting
    socket. A batch that times out closes its connection (as a reply that times out does) and
    raises redis-py's TimeoutError, which redis-py's retry then handles."""

    async def _execute_pipeline(self, connection: Any, commands: Any,
                                raise_on_error: bool) -> Any:
        timeout = connection.socket_timeout
        connection.socket_timeout = None  # (this pipeline has the connection to itself)
        response: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                await connection.send_packed_command(pack(connection.encoder.encode, commands))
                for args, options in commands:
                    try:
                        response.append(await self.parse_response(connection, args[0],
                                                                  **options))
                    except ResponseError as exc:
                        response.append(exc)
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout reading a pipeline's replies") from None
        finally:
            connection.socket_timeout = timeout
        if raise_on_error:
            self.raise_first_error(commands, response)
        return response


def lean_pipeline(redis: Redis) -> Pipeline:
    """A non-transactional pipeline: a `TurnPipeline` on one instance (lean packer, one
    timeout for the batch), redis-py's cluster pipeline in cluster mode. For the hot batches
    of many small commands (a turn's moves, the presence diffs of a flush)."""
    if is_cluster(redis):
        return redis.pipeline(transaction=False)
    return TurnPipeline(redis.connection_pool, redis.response_callbacks, transaction=False,
                        shard_hint=None)


class TurnRedis:
    """Commands issued in one loop turn are sent together (non-transactional pipeline); each
    caller gets its own reply or its own error, as if it had sent the command alone."""

    def __init__(self, redis: Redis, max_batch: int = 1000) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._calls: list[tuple[Op, asyncio.Future[Any]]] = []
        self._flush: asyncio.Task[None] | None = None
        self.batches = 0  # pipelines sent (for tests and the benchmark's notes)
        self.commands = 0

    def _call(self, name: str, *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._calls.append(((name, args), fut))
        if self._flush is None:
            self._flush = loop.create_task(self._send())
        return fut

    async def _send(self) -> None:
        for _ in range(TURNS):  # the sockets of this turn and the next few add theirs
            await asyncio.sleep(0)
        calls, self._calls = self._calls, []
        self._flush = None
        for i in range(0, len(calls), self.max_batch):
            await self._send_batch(calls[i:i + self.max_batch])

    async def _send_batch(self, calls: list[tuple[Op, asyncio.Future[Any]]]) -> None:
        pipe = lean_pipeline(self.redis)  # (TurnRedis is only made for one instance)
        for (name, args), _ in calls:
            getattr(pipe, name)(*args)
        self.batches += 1
        self.commands += len(calls)
        try:
            results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, fut in calls:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception)
                                      else ConnectionError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, fut), result in zip(calls, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    # -- the client calls the set-up path makes -------------------------------------------------
    async def mget(self, keys: list[str]) -> list[Any]:
        return list(await self._call("mget", keys))

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._call("eval", script, numkeys, *keys_and_args)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._call("evalsha", sha, numkeys, *keys_and_args)

    async def script_load(self, script: str) -> Any:
        return await self._call("script_load", script)
