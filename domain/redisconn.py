"""The one Redis/Valkey connection factory: a single instance, or a cluster.

`REDIS_URL` selects the mode:
- `redis://host:port/db`, `rediss://...`, `unix:///path.sock` — one instance (the default;
  the embedded Valkey is one);
- `redis+cluster://host:port[,host:port...]` (or `rediss+cluster://`) — Redis Cluster / Valkey
  cluster: the given nodes are seeds, the client discovers the rest and follows slot moves
  (MOVED/ASK) and failovers.

In cluster mode the client is redis-py's `RedisCluster`, typed here as `Redis` (it offers the
same command methods; every room's keys share one hash tag so the room scripts are single-slot,
and the rest of the app uses single-key commands or non-transactional pipelines, which the
cluster client splits per node). arq (jobs/) cannot run on a cluster (its job scripts touch
several unrelated keys), so the job queue lives on the single instance `READALONG_QUEUE_URL`;
`queue_of(client)` gives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from arq.connections import ArqRedis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}


def is_cluster_url(url: str | None) -> bool:
    return bool(url) and urlsplit(url or "").scheme in CLUSTER_SCHEMES


def cluster_seeds(url: str) -> list[tuple[str, int]]:
    """The (host, port) seeds of a `redis+cluster://h:p[,h:p]` URL."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    seeds: list[tuple[str, int]] = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad cluster node {part!r} in REDIS_URL (want host:port)")
        seeds.append((host.strip("[]"), int(port)))
    if not seeds:
        raise ValueError("REDIS_URL names no cluster node")
    return seeds


def cluster_auth(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    out: dict[str, Any] = {"ssl": CLUSTER_SCHEMES.get(parts.scheme, False)}
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out


class ClusterClient(RedisCluster):
    """A RedisCluster that also carries the job-queue client (`queue`); `enqueue_job` goes
    there (the worker's jobs call `ctx["redis"].enqueue_job` as on arq's own pool)."""

    queue: Redis | None = None

    async def enqueue_job(self, function: str, *args: Any, **kwargs: Any) -> Any:
        queue = queue_of(cast(Redis, self))
        arq = queue if isinstance(queue, ArqRedis) else ArqRedis(
            pool_or_conn=queue.connection_pool)
        return await arq.enqueue_job(function, *args, **kwargs)


# Handlers and use-cases declare `redis: Redis` and Litestar checks injected values against it;
# the cluster client offers the same command methods, so it is registered as a virtual
# subclass (Redis is an ABC): `isinstance(client, Redis)` holds, nothing else changes.
Redis.register(ClusterClient)


class _SendInPlace:
    """A connection's command send without a task of its own, and its reads of replies already
    received without a timeout (mixed into the class the URL selects: TCP, TLS or a Unix
    socket).

    redis-py sends under `socket_timeout` through `asyncio.wait_for`, which on Python 3.11
    wraps the write in a new task per command or pipeline: a task created, scheduled and
    finished for a write that almost always completes at once (and the profiler loses who
    sent it). Here the bytes are written in place; only when the socket did not take them
    all does the wait for the buffer to drain run under the timeout. A failure closes the
    connection and raises what redis-py raises (`ConnectionError`, `TimeoutError`)."""

    async def send_packed_command(self, command: bytes | str | Iterable[bytes],
                                  check_health: bool = True) -> None:
        this = cast(AbstractConnection, self)
        if not this.is_connected:
            await this.connect()  # type: ignore[no-untyped-call]
        elif check_health:
            await this.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = this._writer
        assert writer is not None
        try:
            writer.writelines(command)
            if writer.transport.get_write_buffer_size() and this.socket_timeout:
                async with asyncio.timeout(this.socket_timeout):
                    await writer.drain()
            else:
                await writer.drain()
        except TimeoutError:
            await this.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await this.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:  # (a cancelled send may have left half a command in the socket)
            await this.disconnect(nowait=True)
            raise

    async def read_response(self, disable_decoding: bool = False, timeout: float | None = None,
                            *, disconnect_on_error: bool = True,
                            push_request: bool | None = False) -> Any:
        """A reply the hiredis reader already holds is returned as it is; only a read that
        has to wait for the socket runs under `socket_timeout` (redis-py's own read). redis-py
        enters an `asyncio.timeout` (a timer scheduled and cancelled) for every reply, so a
        pipeline of N commands, whose replies arrive in one or two reads, paid N of them."""
        this = cast(AbstractConnection, self)
        parser = this._parser
        if timeout is None and type(parser) is _AsyncHiredisParser and parser._connected:
            reader = parser._reader
            assert reader is not None
            response = reader.gets(False) if disable_decoding else reader.gets()
            if response is not NOT_ENOUGH_DATA:
                if isinstance(response, RedisConnectionError):
                    raise response
                if isinstance(response, list) and response and isinstance(
                        response[0], RedisConnectionError):
                    raise response[0]
                if this.health_check_interval:
                    this.next_health_check = (asyncio.get_running_loop().time()
                                              + this.health_check_interval)
                if isinstance(response, ResponseError):
                    raise response from None
                return response
        return await super().read_response(  # type: ignore[misc]
            disable_decoding, timeout, disconnect_on_error=disconnect_on_error,
            push_request=push_request)


_IN_PLACE: dict[type, type] = {}


def _send_in_place(client: Redis) -> Redis:
    """Give the client's pool the in-place send (`_SendInPlace`) over its connection class."""
    pool = client.connection_pool
    base = pool.connection_class
    if not issubclass(base, _SendInPlace):
        if base not in _IN_PLACE:
            _IN_PLACE[base] = type(f"InPlace{base.__name__}", (_SendInPlace, base), {})
        pool.connection_class = _IN_PLACE[base]
    return client


def connect(url: str, *, queue_url: str | None = None, **kwargs: Any) -> Redis:
    """A client for `url`: `Redis` for one instance, `ClusterClient` for `redis+cluster://`."""
    if not is_cluster_url(url):
        return _send_in_place(Redis.from_url(url, **kwargs))
    # (per-connection checks and retries: the cluster client retries by itself, re-reading
    # the slot map after MOVED or a connection error)
    ckw = {k: v for k, v in kwargs.items()
           if k not in ("health_check_interval", "retry_on_timeout")}
    client = ClusterClient(
        startup_nodes=[ClusterNode(h, p) for h, p in cluster_seeds(url)],
        require_full_coverage=False,  # a shard in failover must not stop the others
        cluster_error_retry_attempts=5, **cluster_auth(url), **ckw)
    if queue_url:
        client.queue = Redis.from_url(queue_url, **kwargs)
    return cast(Redis, client)


# by the client's class: `isinstance` against RedisCluster (a typing.Protocol subclass) walks
# its protocol members on every miss (about 6 us; the set-up path asks several times per socket)
_CLUSTER_BY_TYPE: dict[type, bool] = {}


def is_cluster(client: object) -> bool:
    kind = type(client)
    known = _CLUSTER_BY_TYPE.get(kind)
    if known is None:
        known = _CLUSTER_BY_TYPE[kind] = isinstance(client, RedisCluster)
    return known


def queue_of(client: Redis) -> Redis:
    """The client that holds the arq job queue: the instance itself, or a cluster's queue."""
    if isinstance(client, ClusterClient):
        queue: Redis | None = client.queue
        if queue is None:
            raise RuntimeError("cluster mode needs READALONG_QUEUE_URL (a single Redis/Valkey"
                               " instance for the job queue)")
        return queue
    return client


# --- multi-key commands that work in both modes (cluster: split per slot, not atomic) -------

async def mget(client: Redis, keys: list[str]) -> list[Any]:
    """MGET; in cluster mode keys of several slots are read per slot (in order)."""
    if is_cluster(client):
        return list(await cast(RedisCluster, client).mget_nonatomic(keys))
    return list(await client.mget(keys))


def pipeline(client: Redis, *, transaction: bool) -> Any:
    """A pipeline: MULTI/EXEC on one instance when `transaction`; in cluster mode always a
    plain pipeline (redis-py's cluster client runs no transactions): readers may see the
    commands' effects one by one, so use it only where that is harmless (derived data)."""
    if is_cluster(client):
        return client.pipeline()
    return client.pipeline(transaction=transaction)


def slot_groups(client: Redis, keys: list[str]) -> list[list[str]]:
    """`keys` as one group (one instance) or one group per hash slot (cluster), for scripts
    that take many independent keys."""
    if not is_cluster(client):
        return [keys] if keys else []
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(key_slot(key.encode()), []).append(key)
    return list(groups.values())


async def close(client: Redis) -> None:
    """Close `client` (and a cluster client's queue client)."""
    if isinstance(client, ClusterClient) and client.queue is not None:
        await client.queue.aclose()
    await client.aclose()
