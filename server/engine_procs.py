"""Child processes of ours for the embedded engines: start them dropping privileges and dying
with us, wait for them to answer, stop them cleanly (or kill them, as a crash would)."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin for the file name


class EngineError(RuntimeError):
    """An embedded engine failed to start; the message says where its log is."""


def drop_privileges_and_die_with_parent(uid: int | None, gid: int | None) -> Callable[[], None]:
    """preexec_fn: become `uid` (when we are root) and ask the kernel to SIGTERM us if we orphan."""

    def _preexec() -> None:
        os.setsid()  # our own process group: a Ctrl-C on the terminal reaches only our parent
        if uid is not None and gid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        # after the credential change, which would otherwise clear it
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except OSError:
            pass

    return _preexec


def socket_dir_for(data: Path, name: str) -> Path:
    """A folder for a Unix socket whose full path fits in sun_path (falls back to /tmp)."""
    if len(str(data / ".s.PGSQL.5432")) <= _SOCKET_PATH_MAX:
        return data
    digest = hashlib.sha1(str(data).encode()).hexdigest()[:12]
    alt = Path(tempfile.gettempdir()) / f"readalong-{name}-{digest}"
    alt.mkdir(mode=0o777, exist_ok=True)
    alt.chmod(0o777)
    return alt


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, log_path: Path,
          proc: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else "(no log)"
    raise EngineError(f"{what} did not become ready; its log ({log_path}) ends with:\n{tail}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 20.0) -> int | None:
    """Send `sig` (a clean-shutdown signal), wait up to `timeout`, then SIGKILL.

    Returns the exit code. Used for the embedded engines, and by the tests and the load runner
    for the server processes they start.
    """
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass
    return proc.returncode


def kill_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crash would, and reap the process."""
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class ChildServer:
    """A server process we started; `stop_signal` is its clean-shutdown signal."""

    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Clean shutdown of a server we started; one we reused is left alone."""
        if self.proc is not None:
            stop_process(self.proc, self.stop_signal, 20)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests use it)."""
        if self.proc is not None:
            kill_process(self.proc)
            self.proc = None
