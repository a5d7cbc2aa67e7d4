"""A generated 5,000-row Goodreads export through a real worker process killed mid-file and
restarted: the import resumes where it stopped, progress is pushed live on `user:<id>`, every
row has one result; and the size and row limits answer clear errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from domain.keys import ARQ_QUEUE
from tests.accounts_helpers import register
from tests.hub_support import Client
from tests.interop_helpers import all_rows, big_goodreads, goodreads_csv, upload, wait_done
from tests.support import ROOT, ServerProcess, eventually

pytestmark = pytest.mark.timeout(900)  # 5,000 rows on a shared 2-core machine


async def _forget_killed_jobs(engines: Any) -> int:
    """Drop the queue entries a SIGKILLed worker left in progress (arq keeps them until the
    job timeout, and later in-process burst workers would wait for them)."""
    redis = Redis.from_url(engines.redis_url)
    try:
        dropped = 0
        for job_id in await redis.zrange(ARQ_QUEUE, 0, -1):
            jid = job_id.decode()
            if await redis.exists(f"arq:in-progress:{jid}"):
                await redis.zrem(ARQ_QUEUE, jid)
                await redis.delete(f"arq:in-progress:{jid}", f"arq:job:{jid}",
                                   f"arq:retry:{jid}")
                dropped += 1
        return dropped
    finally:
        await redis.aclose()


def _worker(engines: Any) -> subprocess.Popen[bytes]:
    env = engines.env(READALONG_DATA_DIR=str(engines.data_dir))
    return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_big_import_resumes_after_the_worker_is_killed(
        http: httpx.AsyncClient, server: ServerProcess, engines: Any, unique: str) -> None:
    """5,000 rows: kill -9 the worker mid-file, start another, and the import finishes with
    each row once, the shelves complete, and live progress events up to 5000/5000."""
    reader = await register(http, unique, prefix="big")
    r = await upload(http, reader, big_goodreads(5000, unique))
    assert r.status_code == 202, r.text
    import_id = r.json()["id"]
    assert r.json()["total"] == 5000
    first = _worker(engines)
    try:
        async def started() -> bool:
            body = (await http.get(f"/api/v1/imports/{import_id}", headers=reader.headers)).json()
            return 0 < body["done"] < 5000
        await eventually(started, timeout=120, interval=0.02)
    finally:
        first.kill()
        first.wait(10)
    stopped = (await http.get(f"/api/v1/imports/{import_id}", headers=reader.headers)).json()
    assert stopped["status"] == "running" and stopped["done"] < 5000
    live = await Client.login(server.ws_url, reader.id, origin=None, ping_interval=None)
    await live.ok("subscribe", room=f"user:{reader.id}")
    pushed: list[dict[str, Any]] = []

    async def collect() -> None:  # keep reading, so the socket keeps answering pings
        while True:
            frame = await live.recv(timeout=900)
            if frame.get("type") == "event" and frame.get("event") == "import_progress":
                pushed.append(frame["data"])

    collector = asyncio.create_task(collect())
    second = _worker(engines)
    try:
        done = await wait_done(http, reader, import_id, timeout=600)
    finally:
        second.terminate()
        second.wait(20)
        await _forget_killed_jobs(engines)
    assert done["status"] == "done" and done["done"] == 5000
    rows = await all_rows(http, reader, import_id)
    assert sorted(r["row"] for r in rows) == list(range(1, 5001))
    assert sum(done["counts"]["outcomes"].values()) == 5000
    shelves = (await http.get("/api/v1/me/books/shelves", headers=reader.headers)).json()
    assert sum(shelves["statuses"].values()) == 5000, shelves
    async def finished() -> bool:
        return any(p["status"] == "done" for p in pushed)
    await eventually(finished, timeout=30)
    collector.cancel()
    await live.close()
    moving = [p["done"] for p in pushed if p["status"] == "running"]
    assert moving and min(moving) >= stopped["done"] and moving == sorted(moving)
    assert pushed[-1] | {"counts": None} == {"import_id": import_id, "status": "done",
                                             "done": 5000, "total": 5000, "dry_run": False,
                                             "counts": None}


@pytest.fixture(scope="module")
def small_server(engines, tmp_path_factory) -> Any:  # type: ignore[no-untyped-def]
    proc = ServerProcess(engines.env(READALONG_IMPORT_MAX_BYTES="3000",
                                     READALONG_IMPORT_MAX_ROWS="5",
                                     READALONG_REGISTER_RATE="1000"),
                         log_dir=tmp_path_factory.mktemp("imports-small")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_size_and_row_limits(small_server: ServerProcess, unique: str) -> None:
    """Over the byte limit or the row limit, the upload is refused with the limit named."""
    async with httpx.AsyncClient(base_url=small_server.base_url, timeout=15) as http:
        reader = await register(http, unique, prefix="lim")
        r = await upload(http, reader, big_goodreads(6, unique))
        assert r.status_code == 422 and r.json()["code"] == "import_too_many_rows"
        r = await upload(http, reader, goodreads_csv([{"Title": "x" * 4000}]))
        assert r.status_code == 422 and r.json()["code"] == "import_too_large"
