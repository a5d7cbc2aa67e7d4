"""Backups: a PostgreSQL dump made with the engine's own tools, the few Redis keys that are not
derived from PostgreSQL, and a manifest with checksums, in one folder.

What Redis holds and what a backup does with it (every prefix of domain/keys.py):

- kept (not derivable, small): token revocations (`ra:revoked:*`, with their TTLs), pushes
  already sent per notification (`ra:pushdone:*`), session "starting" reminders already sent
  (`ra:reminded:*`) — without them a restore would resurrect revoked tokens or send twice;
- rebuilt at restore from PostgreSQL: home feeds and the big-author set (`ra:feed:*`),
  leaderboards (`ra:lb:*`);
- skipped: rate-limit state, presence, node heartbeats, room pub/sub, recent-event history
  (clients resync from PostgreSQL; the content is durable there), the catalog search cache
  (keyed by catalog version, refilled on demand), feed locks, the job queue and results
  (sweeps re-enqueue due work from PostgreSQL), the worker heartbeat, the AI caches, cursors
  and progress (`ra:ai:*`: recomputed by the AI jobs; trending counts restart).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from domain.keys import PUSH_DONE, REVOKED_FAMILY, REVOKED_USER, SESSION_REMINDED

FORMAT = 1
PG_FILE = "postgres.dump"
REDIS_FILE = "redis.json"
MANIFEST = "manifest.json"
KEPT = (REVOKED_FAMILY, REVOKED_USER, PUSH_DONE, SESSION_REMINDED)
SKIPPED = {
    "ra:rl:": "rate-limit state: ephemeral by design",
    "ra:{<room>}:pres, ra:alive": "presence and node heartbeats: live state of running processes",
    "ra:{<room>}:ch, ra:ctl": "pub/sub channels: nothing stored",
    "ra:{<room>}:hist, ra:{<room>}:hmeta": "recent room events: a recovery buffer; the content"
    " is in PostgreSQL",
    "ra:feed:": "home feeds and big authors: rebuilt from PostgreSQL at restore",
    "ra:feedlock:": "short rebuild locks",
    "ra:lb:": "leaderboards: rebuilt from PostgreSQL at restore",
    "ra:cat:": "catalog search cache: keyed by catalog version, refilled on demand",
    "arq:": "job queue and results: sweeps re-enqueue due work from PostgreSQL",
    "ra:worker:hb": "the worker's heartbeat: live state",
    "ra:cover:bad:": "cover fetch failures: a 10-minute negative cache",
    "ra:ai:": "AI caches, scan cursors and embedding progress: the AI jobs recompute them"
              " (trending counts restart: they decay within days anyway)",
}


class BackupError(Exception):
    """A backup or restore step failed; the message says which and why."""


def pg_tool(name: str, pg_bin: Path | None) -> str:
    """The engine's own client tool: pgserver's binaries first, else the one on PATH."""
    if pg_bin is not None and (pg_bin / name).exists():
        return str(pg_bin / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found (install PostgreSQL's client tools)")
    return found


def _run(args: list[str]) -> None:
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False)
    if out.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {out.stderr.strip()[-2000:]}")


def dump_postgres(database_url: str, folder: Path, pg_bin: Path | None) -> Path:
    """pg_dump's custom format: one consistent snapshot (a single repeatable-read transaction)."""
    target = folder / PG_FILE
    _run([pg_tool("pg_dump", pg_bin), "--format=custom", "--no-owner", "--file", str(target),
          "--dbname", database_url])
    return target


def restore_postgres(database_url: str, folder: Path, pg_bin: Path | None) -> None:
    _run([pg_tool("pg_restore", pg_bin), "--no-owner", "--exit-on-error", "--dbname",
          database_url, str(folder / PG_FILE)])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


async def dump_redis(redis: Redis) -> dict[str, Any]:
    """The kept keys with their values and remaining TTLs."""
    keys: list[dict[str, Any]] = []
    for prefix in KEPT:
        async for key in redis.scan_iter(match=prefix + "*", count=1000):
            kind = (await redis.type(key)).decode()
            ttl = int(await redis.pttl(key))
            if kind == "string":
                value: Any = _b64(await redis.get(key) or b"")
            elif kind == "set":
                value = sorted(_b64(m) for m in await redis.smembers(key))  # type: ignore[misc]
            else:
                continue
            keys.append({"key": _b64(key), "type": kind, "pttl": ttl, "value": value})
    return {"kept_prefixes": list(KEPT), "keys": keys}


async def load_redis(redis: Redis, data: dict[str, Any]) -> int:
    """Write the kept keys back (skipping those whose TTL ran out); the count written."""
    n = 0
    for item in data["keys"]:
        key = base64.b64decode(item["key"])
        ttl = int(item["pttl"])
        if item["type"] == "string":
            await redis.set(key, base64.b64decode(item["value"]))
        else:
            members = [base64.b64decode(m) for m in item["value"]]
            await redis.sadd(key, *members)  # type: ignore[misc,arg-type]
        if ttl > 0:
            await redis.pexpire(key, ttl)
        n += 1
    return n


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, migrations: list[str], counts: dict[str, int],
                   avatars: str = "") -> Path:
    files = {str(p.relative_to(folder)): {"sha256": sha256(p), "bytes": p.stat().st_size}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "migrations": migrations, "files": files, "counts": counts,
                "redis": {"kept": list(KEPT), "skipped": SKIPPED}, "avatars": avatars}
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every file's size and checksum."""
    path = folder / MANIFEST
    if not path.exists():
        raise BackupError(f"{path} is missing: not a Readalong backup folder")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    for name, meta in manifest["files"].items():
        file = folder / name
        if not file.exists() or sha256(file) != meta["sha256"]:
            raise BackupError(f"{name} is missing or its checksum does not match the manifest")
    return manifest
