"""Test support: real uvicorn server processes on loopback ports, and waiting helpers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from server.engines import kill_process, stop_process

# uvicorn's protocols as `readalong serve` sets them (realtime/transport/upgrade.py)
HUB_HTTP = "realtime.transport.upgrade:HubHttpProtocol"
HUB_WS = "realtime.transport.upgrade:HubWebSocketProtocol"

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One `uvicorn --factory server.app:create_app` process on 127.0.0.1 (`app`: another
    factory, e.g. one of the tests' own with a hook in it)."""

    def __init__(self, env: dict[str, str], port: int | None = None, log_dir: Path | None = None,
                 extra_args: list[str] | None = None, app: str = "server.app:create_app") -> None:
        self.app = app
        self.env = env
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_dir = log_dir
        self.extra_args = extra_args or []
        self.log_path: Path | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, wait: float = 60.0) -> ServerProcess:
        args = [sys.executable, "-m", "uvicorn", "--factory", self.app,
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
                "--log-level", "warning", "--http", HUB_HTTP, "--ws", HUB_WS, *self.extra_args]
        if self.log_dir is not None:
            self.log_path = self.log_dir / f"server-{self.port}.log"
            self._close_log()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed by stop()/kill()
            out: Any = self._log
        else:
            out = subprocess.DEVNULL
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                r = httpx.get(self.base_url + "/health/ready", timeout=2)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not become ready: {self.log_tail()}")

    def log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful shutdown); if it lingers, SIGABRT (faulthandler writes every
        thread's stack to the log: where it hung), then SIGKILL."""
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)
        code = stop_process(proc, signal.SIGABRT, 5.0)
        self.proc = None
        self._close_log()
        return code

    def kill(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
        self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        """Our handle on the log file (the child keeps its own)."""
        if self._log is not None:
            self._log.close()
            self._log = None


def server_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("READALONG_")}
    # every server and worker process the suite starts imports the same ~300 project modules:
    # let them keep their bytecode (__pycache__, git-ignored) instead of compiling each time
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONFAULTHANDLER"] = "1"  # a stop that hangs shows its stacks (ServerProcess.stop)
    env.update({
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "READALONG_ENV": "test",
        "READALONG_LOG_LEVEL": "WARNING",
        # cheap argon2id for tests (production keeps the RFC 9106 default cost)
        "READALONG_ARGON2_TIME_COST": "1",
        "READALONG_ARGON2_MEMORY_KIB": "8192",
        # the suite's readers never click a verification link: let them get notification email
        # (tests/test_accounts_recovery.py checks the `required` default on servers of its own)
        "READALONG_EMAIL_VERIFICATION": "optional",
        "PYTHONPATH": str(ROOT),
    })
    env.update(overrides)
    return env


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     interval: float = 0.05) -> Any:
    """Await `check()` until it returns a truthy value or `timeout` passes (then raise)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
