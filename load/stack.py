"""What a benchmark run stands on: embedded engines, uvicorn servers, the baseline; always stopped.

`Stack` is a context manager: everything it starts (PostgreSQL, Redis, servers, the baseline,
client processes registered with it) is stopped on exit, on an exception, on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from load.measure import Meter
from load.procs import ROOT, BaselineProc, Child, ServerProc, pin
from load.workers import Pool

log = logging.getLogger("load.stack")

# durability off: this is a benchmark of the server, not of the disk
FAST_PG = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
           "max_connections": "400"}
PG_OPTIONS_ENV = "LOAD_PG_OPTIONS"
_PG_NAME = re.compile(r"[a-z_][a-z0-9_.]*")


def pg_options(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The benchmark PostgreSQL's settings: FAST_PG, then those of LOAD_PG_OPTIONS
    (`name=value` pairs separated by spaces, e.g. `shared_buffers=512MB work_mem=16MB`; they
    win over FAST_PG). A malformed pair is a ValueError that names it."""
    raw = (os.environ if environ is None else environ).get(PG_OPTIONS_ENV, "")
    out = dict(FAST_PG)
    for pair in raw.split():
        name, eq, value = pair.partition("=")
        if not eq or not value or not _PG_NAME.fullmatch(name.lower()):
            raise ValueError(f"{PG_OPTIONS_ENV}: {pair!r} is not name=value (pairs separated "
                             "by spaces, e.g. 'shared_buffers=512MB work_mem=16MB')")
        out[name.lower()] = value
    return out


class Pinning:
    """Which CPUs the server side (servers, Redis, PostgreSQL, baseline) and the clients use."""

    def __init__(self, mode: str) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        self.mode = mode
        if mode == "off" or (mode == "auto" and len(cpus) < 2):
            self.servers: list[int] | None = None
            self.clients: list[int] | None = None
        elif mode == "auto":
            half = max(1, len(cpus) // 2)
            self.servers, self.clients = cpus[:half], cpus[half:]
        else:  # "0:1" or "0-1:2-3" -> servers:clients
            srv, _, cli = mode.partition(":")
            self.servers, self.clients = _cpu_list(srv), _cpu_list(cli)

    def describe(self) -> dict[str, Any]:
        if not self.servers:
            return {"mode": self.mode, "pinned": False}
        return {"mode": self.mode, "pinned": True, "servers_redis_postgres": self.servers,
                "clients": self.clients, "tool": "taskset -c / sched_setaffinity"}


def _cpu_list(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


class Stack:
    """Engines + servers + baseline + client pools for one benchmark session."""

    def __init__(self, pinning: Pinning, keep: bool = False) -> None:
        self.pinning = pinning
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="readalong-bench-"))
        self.logs = self.tmp / "logs"
        self._compiled: set[Path] = set()
        self.logs.mkdir()
        self.secret = secrets.token_urlsafe(48)
        self.engines: Any = None
        self.database_url = ""
        self.redis_url = ""
        self.servers: list[ServerProc] = []
        self.children: list[Child] = []
        self.pools: list[Pool] = []
        self.migrated: list[str] = []

    # lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for pool in self.pools:
            try:
                pool.close(timeout=15)
            except Exception:
                log.exception("stopping a client pool")
        self.pools.clear()
        for child in self.children:
            try:
                child.stop(timeout=10)
            except Exception:
                child.kill()
        self.children.clear()
        self.servers.clear()
        if self.engines is not None:
            try:
                self.engines.stop()
            except Exception:
                log.exception("stopping the engines")
            self.engines = None
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # engines -----------------------------------------------------------------------------------
    def start_engines(self) -> None:
        if self.engines is not None:
            return
        from domain.migrate import migrate
        from server.engines import EmbeddedEngines

        t0 = time.monotonic()
        self.engines = EmbeddedEngines(self.tmp / "var", pg_options=pg_options(),
                                       persist_redis=False)
        self.database_url, self.redis_url = self.engines.start()
        for proc in (self.engines.postgres.proc, self.engines.redis.proc):
            if proc is not None:
                pin(proc.pid, self.pinning.servers)
        self.migrated = asyncio.run(migrate(self.database_url))
        log.info("engines up and migrated in %.1fs", time.monotonic() - t0)

    @property
    def redis_pid(self) -> int | None:
        p = self.engines.redis.proc if self.engines is not None else None
        return p.pid if p is not None else None

    @property
    def postgres_pid(self) -> int | None:
        p = self.engines.postgres.proc if self.engines is not None else None
        return p.pid if p is not None else None

    def flush_redis(self) -> None:
        """Empty Redis between scenarios (history, presence, rate-limit buckets)."""
        import redis

        r = redis.Redis.from_url(self.redis_url)
        try:
            r.flushall()
        finally:
            r.close()

    def redis_calls(self) -> dict[str, int]:
        """Redis's calls so far per command (`INFO commandstats`, every client's; a script's
        own `redis.call`s count too)."""
        import redis

        r = redis.Redis.from_url(self.redis_url)
        try:
            stats = r.info("commandstats")
        finally:
            r.close()
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    # servers -----------------------------------------------------------------------------------
    def server_env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("READALONG_")}
        env.update({
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "READALONG_ENV": "test", "READALONG_LOG_LEVEL": "WARNING",
            "READALONG_SECRET_KEY": self.secret, "PYTHONPATH": str(ROOT),
            # the load client connects without a browser Origin; big rooms need deep queues
            "READALONG_WS_QUEUE_SIZE": "4096", "READALONG_DB_POOL_SIZE": "20",
            "READALONG_ACCESS_TOKEN_TTL": "3600",
        })
        env.update(overrides)
        return env

    def compiled(self, root: Path) -> None:
        """Byte-compile a source tree once, as a deployed image is: this shell may say
        PYTHONDONTWRITEBYTECODE, and then every server start (a restart in the recovery storm)
        would compile our ~270 modules again (~0.4 s of CPU), which no production start does."""
        if root in self._compiled:
            return
        import compileall

        for package in ("server", "realtime", "domain", "jobs"):
            if (root / package).is_dir():
                compileall.compile_dir(str(root / package), quiet=1)
        self._compiled.add(root)

    def start_servers(self, n: int, root: Path | None = None, **env: str) -> list[ServerProc]:
        """`n` server processes (from `root`, another source tree, when given)."""
        self.stop_servers()
        self.start_engines()
        self.compiled(root or ROOT)
        out: list[ServerProc] = []
        for i in range(n):
            extra = {"PYTHONPATH": str(root)} if root is not None else {}
            srv = ServerProc(f"server{i}", self.server_env(READALONG_NODE_ID=f"bench{i}",
                                                           **extra, **env),
                             self.logs, cpus=self.pinning.servers)
            if root is not None:
                srv.cwd = root
            self.children.append(srv)
            srv.start()
            out.append(srv)
        self.servers = out
        return out

    def restart_server(self, srv: ServerProc, timeout: float = 60.0) -> tuple[float, float]:
        """Stop (graceful) and start `srv` again: (stop seconds, start-until-ready seconds)."""
        t0 = time.monotonic()
        srv.stop()
        t1 = time.monotonic()
        srv.start(timeout)
        return t1 - t0, time.monotonic() - t1

    def stop_servers(self) -> None:
        for srv in self.servers:
            srv.stop()
            if srv in self.children:
                self.children.remove(srv)
        self.servers = []

    def start_worker(self, **env: str) -> Child:
        """The arq worker (`python -m server.cli worker`) on the same engines, pinned like servers.
        """
        import sys

        self.start_engines()
        worker = Child("worker", [sys.executable, "-m", "server.cli", "worker"],
                       self.server_env(READALONG_NODE_ID="bench-worker", **env), self.logs,
                       cpus=self.pinning.servers)
        self.children.append(worker)
        worker.spawn()
        return worker

    def start_baseline(self) -> BaselineProc:
        base = BaselineProc(self.logs, cpus=self.pinning.servers)
        self.children.append(base)
        return base.start()

    def stop_child(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    # clients -----------------------------------------------------------------------------------
    def pool(self, agent: str, n: int, init: dict[str, Any] | None = None,
             per_worker: list[dict[str, Any]] | None = None) -> Pool:
        p = Pool(agent, n, init, per_worker, cpus=self.pinning.clients)
        self.pools.append(p)
        return p

    def close_pool(self, pool: Pool) -> None:
        pool.close()
        if pool in self.pools:
            self.pools.remove(pool)

    def meter(self, clients: Pool | None = None, baseline: Child | None = None) -> Meter:
        groups: dict[str, tuple[object, bool]] = {
            "servers": (lambda: [s.pid for s in self.servers if s.pid], False),
            "redis": (lambda: [self.redis_pid] if self.redis_pid else [], False),
            "postgres": (lambda: [self.postgres_pid] if self.postgres_pid else [], True),
        }
        if baseline is not None:
            groups["baseline"] = (lambda: [baseline.pid] if baseline.pid else [], False)
        if clients is not None:
            groups["clients"] = (lambda: clients.pids, False)
        return Meter(groups)

    def token(self, user_id: int, ttl: int = 3600) -> str:
        from domain.accounts.tokens import issue_access_token

        return issue_access_token(self.secret, user_id, "reader", ttl)[0]
