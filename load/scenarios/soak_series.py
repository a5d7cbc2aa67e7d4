"""The soak's time series: each server-side process's RSS and CPU, and the job queue's depth.

A sampler thread reads /proc every few seconds: CPU seconds (utime + stime; for a process tree
such as PostgreSQL's, the live backends plus what the postmaster has reaped, cutime + cstime),
RSS (PSS for a tree, whose backends share buffers) at a slower cadence, and the arq queue's
length (`ZCARD`). The pure functions below turn the cumulative CPU into per-interval cores,
find when the server side saturated and who led then, and render short text lines for the
report's notes (the whole series goes in its JSON).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SATURATED_SHARE = 0.9  # the server side is saturated above this share of its cores


def proc_cpu_seconds(pid: int, reaped: bool = False) -> float:
    """utime + stime of `pid` from /proc/<pid>/stat (+ its reaped children's when `reaped`)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(b")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (16, 17)
    return ticks / _TICK


# smaps_rollup's proportional parts: private (anonymous: heap, stacks), System V / POSIX shared
# memory (PostgreSQL's shared buffers) and file-backed pages (binaries, libraries)
MEM_PARTS = {"private": "Pss_Anon", "shared": "Pss_Shmem", "file": "Pss_File"}


def memory_parts(pid: int, tree: bool = False) -> dict[str, float]:
    """MB of each of MEM_PARTS for `pid` (and its descendants when `tree`: proportional, so a
    page the backends share counts once over the tree), from /proc/<pid>/smaps_rollup; {} when
    the process is gone. A tree's shared part is bounded by the segment it maps (PostgreSQL's
    `shared_memory_size`) however many backends touch it."""
    want = {v: k for k, v in MEM_PARTS.items()}
    out = dict.fromkeys(MEM_PARTS, 0.0)
    seen = False
    for p in [pid, *(_children(pid) if tree else [])]:
        with contextlib.suppress(OSError), open(f"/proc/{p}/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in want:
                    out[want[name]] += int(rest.split()[0]) / 1024  # kB
            seen = True
    return {k: round(v, 2) for k, v in out.items()} if seen else {}


def cores_busy_seconds(cpus: list[int]) -> float:
    """Busy seconds (every process's, not only ours) of `cpus` since boot, from /proc/stat:
    user, nice, system, irq and softirq (not idle, iowait or the hypervisor's steal)."""
    want = {f"cpu{c}" for c in cpus}
    total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *vals = line.split()
                if name in want:
                    v = [int(x) for x in vals[:7]]  # user .. softirq (no steal, no guest)
                    total += sum(v) - v[3] - v[4]
    except OSError:
        return 0.0
    return total / _TICK


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (/proc/<pid>/task/*/children, recursively)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            with contextlib.suppress(OSError), open(f"/proc/{p}/task/{tid}/children") as f:
                kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process tree: the root with what it reaped, plus its live descendants.
    A backend that exits moves its time from the live sum to the root's reaped sum."""
    return proc_cpu_seconds(pid, reaped=True) + sum(proc_cpu_seconds(c) for c in _children(pid))


def utilisation(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Cumulative (seconds, CPU seconds) -> (end of interval, cores used in it). A counter that
    went backwards (a restarted process) counts as zero for that interval."""
    out = []
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if t1 > t0:
            out.append((round(t1, 2), round(max(0.0, c1 - c0) / (t1 - t0), 3)))
    return out


def onset(cores: dict[str, list[tuple[float, float]]], capacity: float,
          share: float = SATURATED_SHARE, sustained: int = 2) -> dict[str, Any] | None:
    """When the processes in `cores` (label -> utilisation series on common sample times)
    together first used at least `share` of `capacity` cores for `sustained` intervals in a
    row: {"t": start of that stretch, "total": cores then, "top": the busiest label then,
    "by": each label's cores then}; None when they never did."""
    if not cores or capacity <= 0:
        return None
    n = min(len(s) for s in cores.values())
    run = 0
    for i in range(n):
        total = sum(s[i][1] for s in cores.values())
        run = run + 1 if total >= share * capacity else 0
        if run == sustained:
            j = i - sustained + 1
            by = {k: s[j][1] for k, s in cores.items()}
            t_start = cores[next(iter(cores))][j][0]
            return {"t": t_start, "total": round(sum(by.values()), 3),
                    "top": max(by, key=lambda k: by[k]), "by": by}
    return None


def spread(series: list[tuple[float, float]], points: int = 12) -> list[tuple[float, float]]:
    """At most about `points` evenly spaced samples of a series (for a one-line note)."""
    step = max(1, len(series) // points)
    return series[::step]


def cpu_note(cores: dict[str, list[tuple[float, float]]], every: float) -> str:
    """One line: each label's cores at about 12 points in time, and its peak."""
    parts = []
    for label, s in cores.items():
        peak = max((v for _, v in s), default=0.0)
        parts.append(f"{label} (peak {peak:.2f}) " + " ".join(
            f"{t:.0f}:{v:.2f}" for t, v in spread(s)))
    return f"CPU (cores per {every:g} s interval, s:cores): " + "; ".join(parts)


class Sampler:
    """RSS, CPU seconds and the queue depth of labelled processes, in a thread, for a window.

    `groups`: label -> (callable returning a pid or None, is a tree); `rss_of(pid, tree)` gives
    bytes; `queue_depth()` the job queue's length (or None). CPU and the queue every `every`
    seconds, memory every `mem_every`."""

    def __init__(self, groups: dict[str, tuple[Callable[[], int | None], bool]],
                 every: float, mem_every: float, until: float,
                 rss_of: Callable[[int, bool], int],
                 queue_depth: Callable[[], int | None] | None = None,
                 cpus: list[int] | None = None,
                 gauges: dict[str, Callable[[], float | None]] | None = None) -> None:
        self.groups, self.every, self.mem_every, self.until = groups, every, mem_every, until
        self.cpus = cpus  # the server side's CPUs: their busy time (anyone's) is sampled too
        self.rss_of, self.queue_depth = rss_of, queue_depth
        self.memory: dict[str, list[tuple[float, float]]] = {k: [] for k in groups}
        # label -> part (MEM_PARTS) -> (s, MB), at the memory cadence
        self.parts: dict[str, dict[str, list[tuple[float, float]]]] = {
            k: {p: [] for p in MEM_PARTS} for k in groups}
        # other memory figures in MB (e.g. Redis's used_memory), at the memory cadence
        self.gauge_fns = gauges or {}
        self.gauges: dict[str, list[tuple[float, float]]] = {k: [] for k in self.gauge_fns}
        self.cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in groups}
        self.busy: list[tuple[float, float]] = []  # the server CPUs' busy seconds (anyone's)
        self.queue: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self.t0 = 0.0
        self._next_mem = 0.0

    def _sample(self) -> None:
        if self.cpus:  # first, with its own time: the RSS reads below can take a while
            self.busy.append((round(time.monotonic() - self.t0, 2),
                              round(cores_busy_seconds(self.cpus), 3)))
        now = time.monotonic() - self.t0
        mem = now >= self._next_mem
        if mem:
            self._next_mem = now + self.mem_every - self.every / 2
        for label, (pid_fn, tree) in self.groups.items():
            pid = pid_fn()
            if not pid:
                continue
            cpu = tree_cpu_seconds(pid) if tree else proc_cpu_seconds(pid)
            self.cpu[label].append((round(now, 2), round(cpu, 3)))
            if mem:
                self.memory[label].append((round(now, 2), round(self.rss_of(pid, tree) / 2**20,
                                                                2)))
                for part, mb in memory_parts(pid, tree).items():
                    self.parts[label][part].append((round(now, 2), mb))
        for name, fn in self.gauge_fns.items() if mem else ():
            with contextlib.suppress(Exception):  # a sample missed is not a failed run
                value = fn()
                if value is not None:
                    self.gauges[name].append((round(now, 2), round(value, 2)))
        if self.queue_depth is not None:
            with contextlib.suppress(Exception):  # a sample missed is not a failed run
                depth = self.queue_depth()
                if depth is not None:
                    self.queue.append((round(now, 2), int(depth)))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.every) and time.monotonic() - self.t0 < self.until:
            self._sample()

    def start(self) -> Sampler:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> Sampler:
        self._stop.set()
        self._thread.join(10)
        return self

    def cores(self) -> dict[str, list[tuple[float, float]]]:
        return {k: utilisation(v) for k, v in self.cpu.items()}


def cumulative(times: list[float], at: list[float]) -> list[tuple[float, int]]:
    """How many of `times` (sorted) fell at or before each of `at`."""
    out, i = [], 0
    for t in at:
        while i < len(times) and times[i] <= t:
            i += 1
        out.append((t, i))
    return out


def summary(sampler: Sampler, capacity: float, drops_at: list[float], server_labels: list[str]
            ) -> tuple[dict[str, Any], list[str]]:
    """The figures and notes of a run's series: per-process mean and peak cores, when the
    server side (every sampled process, pinned to `capacity` cores) first saturated and who led,
    the queue's depth, and when sockets dropped."""
    cores = sampler.cores()
    fig: dict[str, Any] = {"cpu_series": cores, "queue_series": sampler.queue}
    for label, s in cores.items():
        fig[f"{label}_cpu_peak"] = max((v for _, v in s), default=0.0)
    web = [cores[k] for k in server_labels if k in cores]
    if web:
        n = min(len(s) for s in web)
        cores = {"web": [(web[0][i][0], round(sum(s[i][1] for s in web), 3)) for i in range(n)],
                 **{k: v for k, v in cores.items() if k not in server_labels}}
    notes = [cpu_note(cores, sampler.every)]
    if sampler.busy:
        busy = utilisation(sampler.busy)
        ours = [sum(s[i][1] for s in cores.values()) for i in range(min(map(len, cores.values())))]
        fig["server_cpus_busy"] = round(sum(v for _, v in busy) / max(len(busy), 1), 3)
        fig["server_cpus_ours"] = round(sum(ours) / max(len(ours), 1), 3)
        notes.append(f"the server side's CPU(s) {sampler.cpus} busy (every process on them, "
                     f"ours and others'; s:cores): " + " ".join(
                         f"{t:.0f}:{v:.2f}" for t, v in spread(busy)) +
                     f"; mean {fig['server_cpus_busy']:.2f}, ours {fig['server_cpus_ours']:.2f}")
    hot = onset(cores, capacity)
    fig["saturated_at_s"] = hot["t"] if hot else -1
    if hot:
        notes.append(f"saturation: from {hot['t']:.0f} s the server side used {hot['total']:.2f} "
                     f"of its {capacity:g} core(s) (≥ {SATURATED_SHARE:.0%}), led by "
                     f"{hot['top']}: " + ", ".join(f"{k} {v:.2f}" for k, v in hot["by"].items()))
    else:
        notes.append(f"saturation: the server side never used ≥ {SATURATED_SHARE:.0%} of its "
                     f"{capacity:g} core(s) for two samples in a row")
    if sampler.queue:
        depth = [d for _, d in sampler.queue]
        fig["queue_depth_max"], fig["queue_depth_end"] = max(depth), depth[-1]
        notes.append("arq queue depth (s:jobs): " + " ".join(
            f"{t:.0f}:{d}" for t, d in spread(sampler.queue, 16)))
    ticks = [t for t, _ in spread(cores[next(iter(cores))], 16)] if cores else []
    if drops_at and ticks:
        notes.append("sockets dropped by (s:count): " + " ".join(
            f"{t:.0f}:{c}" for t, c in cumulative(drops_at, ticks)))
        fig["first_drop_s"] = drops_at[0]
    return fig, notes
