"""Which readers' badges to check, batched: a reading event marks its reader due (one SADD),
and one `award_badges_due` job per window checks every due reader at once.

Every move that logs pages is a `scored` reading event, and each used to enqueue its own
`award_badges` job (7 queries and a dozen queue commands each): 10,000 readers moving made
~250 jobs a second, more than the worker runs, so live notifications waited behind them. Now a
reader is added to the `ra:badges:due` set and the batch job of the current window is
enqueued once per window per process (job id `award_badges_due:<window>`, deferred to the
window's end plus a slack, so it runs after every event of its window was committed; the other
processes' enqueues of the same id are no-ops). The job reads the set in slices, checks them
with `gamification.award_many` and removes a slice only once it was checked (a crash leaves
them due: at least once; a badge is granted once whatever runs twice).
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from domain.jobqueue import enqueue

log = logging.getLogger("readalong.reading")
DUE_KEY = "ra:badges:due"       # set: readers whose badges to check
TAKING_KEY = "ra:badges:taking"  # set: the due readers a job is checking now
LOCK_KEY = "ra:badges:lock"     # the job checking now (its token); expires with it
LOCK_MS = 110_000               # under the worker's job timeout (120 s)
_RELEASE = ("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1])"
            " end return 0")
DUE_JOB = "award_badges_due"    # jobs/reading.py
WINDOW_S = 2.0                  # events of one window share one job
SLACK_S = 0.5                   # the job runs this long after its window (clock skew)
SLICE = 500                     # readers checked per query
_enqueued: dict[int, int] = {}  # id(redis) -> the last window this process enqueued a job for


def window_of(now: float, width: float = WINDOW_S) -> int:
    return int(now // width)


def job_for(window: int, width: float = WINDOW_S) -> tuple[str, datetime]:
    """The batch job's id and when it runs (the window's end plus the slack)."""
    return (f"{DUE_JOB}:{window}",
            datetime.fromtimestamp((window + 1) * width + SLACK_S, tz=UTC))


async def mark_due(redis: Redis, user_id: int, *, now: float | None = None) -> None:
    """The reader's badges are due a check (after the commit of what may have earned one).
    Never raises: the reader's next event marks them again."""
    await mark_many_due(redis, [user_id], now=now)


async def mark_many_due(redis: Redis, user_ids: list[int], *,
                        now: float | None = None) -> None:
    """`mark_due` for many readers at once (a write-behind batch): one SADD."""
    if not user_ids:
        return
    window = window_of(time.time() if now is None else now)
    try:
        await redis.sadd(DUE_KEY, *user_ids)  # type: ignore[misc]
        if _enqueued.get(id(redis)) != window:
            # noted before the await: the other events of this window (concurrent tasks) skip
            _enqueued[id(redis)] = window
            job_id, at = job_for(window)
            try:
                await enqueue(redis, DUE_JOB, job_id=job_id, defer_until=at)
            except Exception:
                _enqueued.pop(id(redis), None)  # the next event of the window tries again
                raise
    except Exception:
        log.warning("could not mark the badges of users %s due", user_ids[:10], exc_info=True)


async def _move_due(redis: Redis) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.sunionstore(TAKING_KEY, [TAKING_KEY, DUE_KEY])
    pipe.delete(DUE_KEY)
    await pipe.execute()


async def take_due(redis: Redis, check: Any, *, max_slices: int = 200) -> int:
    """Check every due reader, `SLICE` at a time (`check(user_ids)` awaits their awards);
    how many were checked. One job at a time (`LOCK_KEY`): a job that finds it taken returns,
    the holder drains what that job's window marked too (it looks at the due set again after
    its release). The due set is moved (atomically) into `TAKING_KEY`, so a reader marked due
    while their check runs stays due for the next pass; a slice leaves `TAKING_KEY` once
    checked (a crash: the next job checks it again). Bounded by `max_slices`."""
    done = slices = 0
    for _ in range(3):
        token = secrets.token_hex(8)
        if not await redis.set(LOCK_KEY, token, nx=True, px=LOCK_MS):
            return done
        try:
            await _move_due(redis)
            while slices < max_slices:
                raw = await redis.srandmember(TAKING_KEY, SLICE)  # type: ignore[misc]
                if not raw:
                    if not await redis.exists(DUE_KEY):
                        break
                    await _move_due(redis)
                    continue
                ids = [int(x) for x in raw]
                await check(ids)
                await redis.srem(TAKING_KEY, *raw)  # type: ignore[misc]
                done += len(ids)
                slices += 1
        finally:
            await redis.eval(_RELEASE, 1, LOCK_KEY, token)  # type: ignore[misc]
        if slices >= max_slices or not await redis.exists(DUE_KEY):
            break
    return done
