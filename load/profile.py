"""Sampling profiles of server processes under load (py-spy, non-blocking) and their top frames."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from load.report import RESULTS

_LINE = re.compile(r":\d+\)$")


def available() -> str | None:
    return shutil.which("py-spy") or (str(Path(__import__("sys").executable).parent / "py-spy")
                                      if (Path(__import__("sys").executable).parent
                                          / "py-spy").exists() else None)


class Profiler:
    """`py-spy record --nonblocking --format raw` on each pid for `duration` seconds."""

    def __init__(self, pids: list[int], duration: float | None, label: str,
                 cpus: list[int] | None = None) -> None:
        self.binary = available()
        self.pids = pids
        self.duration = max(1, int(duration)) if duration else 3600  # None: until finish()
        self.open_ended = not duration
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.files = [RESULTS / f"profile-{stamp}-{label}-{pid}.txt" for pid in pids]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cpus = cpus

    def start(self) -> Profiler:
        if self.binary is None:
            return self
        for pid, out in zip(self.pids, self.files, strict=False):
            args = [self.binary, "record", "--pid", str(pid), "--duration", str(self.duration),
                    "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out)]
            if self.cpus:
                args = ["taskset", "-c", ",".join(map(str, self.cpus)), *args]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        return self

    def finish(self, top: int = 15) -> list[str]:
        """Wait for the recorders; the `top` functions by own (self) samples, as text lines."""
        if self.binary is None:
            return ["profile skipped: py-spy is not installed (pip install py-spy)"]
        for p in self.procs:
            if self.open_ended and p.poll() is None:
                p.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                p.wait(30 if self.open_ended else self.duration + 30)
            except subprocess.TimeoutExpired:
                p.kill()
        own: Counter[str] = Counter()
        total = 0
        for path in self.files:
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit() or not stack:
                    continue
                n = int(count)
                total += n
                leaf = _LINE.sub(")", stack.rsplit(";", 1)[-1])  # per function, not per line
                own[leaf] += n
        if not total:
            return ["profile: no samples (py-spy needs ptrace permission)"]
        lines = [f"profile: {total} samples over {len(self.files)} process(es), raw stacks in "
                 f"{', '.join(p.name for p in self.files)}; top functions by own time "
                 "(`Runner.run` = the uvloop event loop in C: socket I/O and waiting):"]
        for frame, n in own.most_common(top):
            lines.append(f"{100 * n / total:5.1f}%  {frame}")
        return lines
