"""`readalong serve --with-worker`'s supervisor: the worker runs as a child process and is started
again, with a log line and a bounded backoff, whenever it dies.

A worker that exits with code 0 stopped on purpose (SIGTERM/SIGINT, e.g. the terminal's Ctrl-C
reaching the whole process group) and is left stopped; any other end (a crash, SIGKILL, the
OOM killer) is restarted after `first_delay` seconds, doubled for each restart in a row up to
`restart_max`; a worker that ran `stable_after` seconds before dying starts the count again.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("readalong.supervisor")


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


class WorkerSupervisor:
    """Keeps one worker process running until `stop()`."""

    def __init__(self, command: Sequence[str], env: dict[str, str], *, restart_max: float = 30.0,
                 first_delay: float = 1.0, stable_after: float = 60.0) -> None:
        self.command = list(command)
        self.env = env
        self.restart_max = max(restart_max, first_delay)
        self.first_delay = first_delay
        self.stable_after = stable_after
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor",
                                        daemon=True)

    def start(self) -> WorkerSupervisor:
        with self._lock:
            self.proc = self._spawn()
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._started_at = time.monotonic()
        return subprocess.Popen(self.command, env=self.env)

    def _watch(self) -> None:
        delay = self.first_delay
        while True:
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            if self._stopping.is_set():
                return
            if code == 0:
                log.warning("worker (pid %d) stopped cleanly (code 0); not restarting it",
                            proc.pid)
                return
            ran = time.monotonic() - self._started_at
            if ran >= self.stable_after:
                delay = self.first_delay
            log.warning("worker (pid %d) died (%s) after %.1fs; restarting it in %.1fs",
                        proc.pid, describe_exit(code), ran, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.proc = self._spawn()
                self.restarts += 1
            log.warning("worker restarted (pid %d, restart %d)", self.proc.pid, self.restarts)
            delay = min(delay * 2, self.restart_max)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the worker (it finishes or re-queues running jobs), SIGKILL if it lingers."""
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._thread.is_alive():
            self._thread.join(5)
