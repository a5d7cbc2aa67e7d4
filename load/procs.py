"""Child processes the benchmark starts (uvicorn servers, the baseline); pinning and limits."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.engines import kill_process, stop_process

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def same_gc_as_servers() -> None:
    """Collect garbage with the servers' default thresholds (READALONG_GC_THRESHOLD) in the
    load clients and the bare websockets baseline too, so a comparison measures the code, not
    a GC setting, and the clients are not slowed by collections of their own thousands of
    sockets."""
    from domain.settings import Settings

    Settings().apply_gc_threshold()


def raise_nofile() -> int:
    """Raise this process's open-file soft limit to its hard limit; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def _child_preexec() -> None:
    os.setsid()  # a Ctrl-C on the terminal reaches only us; we stop the children ourselves
    raise_nofile()
    die_with_parent()


def pin(pid: int, cpus: list[int] | None) -> None:
    """Pin every thread of `pid` to `cpus` (what `taskset -a -p` does)."""
    if not cpus:
        return
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, set(cpus))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Child:
    """One child process with a log file, optional CPU pinning (`taskset -c`), always stoppable."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
                 cpus: list[int] | None = None) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cpus = cpus
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.cwd: Path = ROOT  # another source tree (an A/B against an older commit)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def spawn(self) -> None:
        args = list(self.args)
        if self.cpus:
            args = ["taskset", "-c", ",".join(map(str, self.cpus)), *args]
        out: Any = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(args, cwd=self.cwd, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_child_preexec)
        finally:
            out.close()
        self.starts += 1

    def wait_ready(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early: {self.log_tail()}")
            if ready():
                return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def terminate(self) -> None:
        """Send SIGTERM without waiting (graceful shutdown starts)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL."""
        if self.proc is None:
            return None
        code = stop_process(self.proc, signal.SIGTERM, timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
        self.proc = None


HUB_PROTOCOLS = ["--http", "realtime.transport.upgrade:HubHttpProtocol",
                 "--ws", "realtime.transport.upgrade:HubWebSocketProtocol"]


class ServerProc(Child):
    """One `uvicorn --factory server.app:create_app` process on 127.0.0.1:<port>."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path,
                 cpus: list[int] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        args = [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
                "--log-level", "warning", "--backlog", "8192",
                "--timeout-graceful-shutdown", "20",
                # as `readalong serve` runs it (and the Procfile: no deflate): without these,
                # each socket built a deflate factory and went through uvicorn's proxy-headers
                # middleware (~3% of a reconnect storm's samples together)
                "--ws-per-message-deflate", "false", "--no-proxy-headers"]
        super().__init__(name, args, env, log_dir, cpus)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def spawn(self) -> None:
        """With uvicorn's protocols as `readalong serve` sets them (the upgrade parsed once),
        unless the source tree predates them (an A/B against an older commit)."""
        base = self.args
        if (self.cwd / "realtime/transport/upgrade.py").exists():
            self.args = [*base, *HUB_PROTOCOLS]
        try:
            super().spawn()
        finally:
            self.args = base

    def start(self, timeout: float = 60.0) -> ServerProc:
        self.spawn()
        self.wait_ready(lambda: http_ok(self.base_url + "/health/ready"), timeout)
        return self


class BaselineProc(Child):
    """The `websockets` broadcast baseline (load/baseline_server.py)."""

    def __init__(self, log_dir: Path, cpus: list[int] | None = None) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        super().__init__("baseline", [sys.executable, "-m", "load.baseline_server",
                                      "--port", str(self.port)], env, log_dir, cpus)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30.0) -> BaselineProc:
        self.spawn()
        self.wait_ready(lambda: port_open(self.port), timeout)
        return self
