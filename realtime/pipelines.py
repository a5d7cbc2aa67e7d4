"""Pipelines with Lua scripts in them, in one round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


async def pipelined(redis: Redis, build: Callable[[Pipeline], None],
                    scripts: tuple[AsyncScript, ...]) -> list[Any]:
    """Run a pipeline (not a transaction) whose scripts go as plain EVALSHA: redis-py's own
    script handling asks SCRIPT EXISTS on every execute, a round trip more. After a NOSCRIPT
    (Redis restarted or flushed its scripts), the scripts are loaded and only the commands that
    failed run again (the others already ran: a join must not count twice). The first other
    error is raised."""
    pipe = redis.pipeline(transaction=False)
    build(pipe)
    stack = list(pipe.command_stack)
    got = list(await pipe.execute(raise_on_error=False))
    failed = [i for i, r in enumerate(got) if isinstance(r, NoScriptError)]
    if failed:
        for script in scripts:
            await redis.script_load(script.script)
        again = redis.pipeline(transaction=False)
        again.command_stack = [stack[i] for i in failed]
        for i, r in zip(failed, await again.execute(raise_on_error=False), strict=True):
            got[i] = r
    for r in got:
        if isinstance(r, Exception):
            raise r
    return got
