"""Backup and restore: an installation destroyed and brought back from its backup folder."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image
from redis.asyncio import Redis

from domain.db import Database
from domain.feeds.service import feed_key, record_activity
from domain.keys import REVOKED_USER
from server.engines import EmbeddedEngines
from tests.accounts_helpers import register
from tests.conftest import TEST_PG_OPTIONS
from tests.fixture_helpers import copy_pg_folder
from tests.storage_s3 import running_s3
from tests.support import ROOT, ServerProcess, server_env
from tests.test_sessions_helpers import live_session, make_book

TABLES = ("users", "books", "reading_sessions", "session_messages", "session_annotations",
          "notifications", "follows", "activities")


def readalong(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


async def snapshot(db_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(db_url)
    try:
        return {
            "counts": {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES},
            "handles": sorted(r[0] for r in await conn.fetch("SELECT handle FROM users")),
            "titles": sorted(r[0] for r in await conn.fetch("SELECT title FROM books")),
            "messages": sorted(r[0] for r in await conn.fetch(
                "SELECT body FROM session_messages")),
            "notes": sorted(r[0] for r in await conn.fetch(
                "SELECT note FROM session_annotations")),
            "notifications": sorted(r[0] for r in await conn.fetch(
                "SELECT type FROM notifications")),
        }
    finally:
        await conn.close()


async def make_content(db_url: str, redis_url: str, server: ServerProcess) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as http:
        fan = await register(http, "bk", prefix="fan")
        bo = await register(http, "bk", prefix="bo")
        r = await http.post(f"/api/v1/users/{bo.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
        buf = io.BytesIO()
        Image.new("RGB", (90, 90), (1, 2, 3)).save(buf, "PNG")
        r = await http.put("/api/v1/me/avatar", headers=bo.headers,
                           files={"file": ("me.png", buf.getvalue(), "image/png")})
        assert r.status_code == 200, r.text
        book = await make_book(db_url, "The Restored Book")
        s = await live_session(http, bo, book)
        r = await http.post(f"/api/v1/sessions/{s['id']}/messages", headers=bo.headers,
                            json={"body": "a message worth keeping"})
        assert r.status_code == 201, r.text
        r = await http.post(f"/api/v1/sessions/{s['id']}/annotations", headers=bo.headers,
                            json={"selectors": [{"type": "ProgressionSelector", "start": 0.1,
                                                 "end": 0.2}], "note": "a kept note"})
        assert r.status_code == 201, r.text
    db = Database(db_url, pool_size=2)
    await db.connect()
    redis = Redis.from_url(redis_url)
    try:
        activity = await record_activity(db, redis, actor_id=bo.id, verb="started_book",
                                         object_kind="book", object_id=str(book),
                                         payload={"title": "The Restored Book"})
        await redis.set(f"{REVOKED_USER}{fan.id}", b"1700000000000", ex=3600)
    finally:
        await redis.aclose()
        await db.close()
    return {"fan": fan, "activity": activity}


async def feed_and_revocation(redis_url: str, fan_id: int) -> tuple[list[bytes], int]:
    redis = Redis.from_url(redis_url)
    try:
        members = await redis.zrange(feed_key(fan_id), 0, -1)
        return members, int(await redis.pttl(f"{REVOKED_USER}{fan_id}"))
    finally:
        await redis.aclose()


@pytest.mark.timeout(300)  # two installations and five CLI runs: slow on a loaded machine
def test_backup_destroy_restore_round_trip(tmp_path: Path, pg_template: Path,
                                           pg_blank: Path) -> None:
    """Everything made before the backup (to a folder and to an S3 bucket) is found again
    after the data folder is destroyed and a fresh installation is restored from the bucket,
    with the home feed rebuilt, revocations kept and avatars back."""
    with running_s3() as s3:
        _round_trip(tmp_path, s3, pg_template, pg_blank)


def _round_trip(tmp_path: Path, s3: Any, template: Path, blank: Path) -> None:
    bucket = s3.new_bucket()
    first = tmp_path / "first"
    copy_pg_folder(template, first)  # migrated to head
    engines = EmbeddedEngines(first, pg_options=TEST_PG_OPTIONS)
    db_url, redis_url = engines.start()
    folder = tmp_path / "backup"
    try:
        env = server_env(db_url, redis_url, READALONG_DATA_DIR=str(first), **s3.env(bucket))
        server = ServerProcess(env, log_dir=tmp_path).start()
        try:
            made = asyncio.run(make_content(db_url, redis_url, server))
            worker = readalong(env, "worker", "--burst")  # notifications, fan-out
            assert worker.returncode == 0, worker.stderr[-2000:]
        finally:
            server.stop()
        before = asyncio.run(snapshot(db_url))
        out = readalong(env, "backup", str(folder))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Redis skipped ra:rl:" in out.stdout  # says what it skipped and why
        out = readalong(env, "backup", f"s3://{bucket}/nightly/1")
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        engines.stop()
    shutil.rmtree(first)
    assert before["counts"]["notifications"] >= 1 and before["counts"]["session_messages"] >= 1
    manifest = json.loads((folder / "manifest.json").read_text())
    avatar_files = {f for f in manifest["files"] if f.startswith("avatars/")}
    assert set(manifest["files"]) - avatar_files == {"postgres.dump", "redis.json"}
    assert len(avatar_files) == 2  # the avatar's two sizes, from the data folder
    assert manifest["counts"] == before["counts"]
    assert set(s3.keys(bucket, "nightly/1/")) == {f"nightly/1/{f}" for f in
                                                  [*manifest["files"], "manifest.json"]}

    second = tmp_path / "second"
    copy_pg_folder(blank, second)  # a fresh installation: an empty database
    fresh = EmbeddedEngines(second, pg_options=TEST_PG_OPTIONS)
    db2, redis2 = fresh.start()
    try:
        env2 = server_env(db2, redis2, READALONG_DATA_DIR=str(second), **s3.env(bucket))
        missing = readalong(env2, "restore", f"s3://{bucket}/nightly/none")
        assert missing.returncode == 1 and "not a finished backup" in missing.stdout
        out = readalong(env2, "restore", f"s3://{bucket}/nightly/1")
        assert out.returncode == 0, out.stdout + out.stderr
        assert asyncio.run(snapshot(db2)) == before
        assert sorted(p.name for p in (second / "avatars").rglob("*.png")) == sorted(
            Path(f).name for f in avatar_files)
        members, ttl = asyncio.run(feed_and_revocation(redis2, made["fan"].id))
        assert str(made["activity"]).encode() in members  # the home feed was rebuilt
        assert 0 < ttl <= 3600 * 1000  # a token revocation survives, with its expiry
        again = readalong(env2, "restore", str(folder))
        assert again.returncode == 1 and "not empty" in again.stdout
    finally:
        fresh.stop()


def test_restore_refuses_a_tampered_backup(tmp_path: Path) -> None:
    """A backup whose dump does not match its manifest checksum is refused before any write."""
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "postgres.dump").write_bytes(b"not a dump")
    (folder / "redis.json").write_text('{"keys": []}')
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "files": {
        "postgres.dump": {"sha256": "0" * 64, "bytes": 10}}}))
    out = readalong(server_env("postgresql://x@/x", "redis://127.0.0.1:1"), "restore",
                    str(folder))
    assert out.returncode == 1 and "checksum" in out.stdout
