"""Helpers shared by scenarios: latency sample transport, client CPU, section building."""

from __future__ import annotations

import array
import time
from typing import Any

SATURATED = 0.9  # a client process above this share of one core may be the bottleneck


def pack(samples: array.array) -> bytes:
    return samples.tobytes()


def unpack(blobs: list[bytes]) -> list[float]:
    out = array.array("d")
    for b in blobs:
        out.frombytes(b)
    return list(out)


class CpuWindow:
    """This process's CPU seconds over a window (agents report it with their figures)."""

    def __init__(self) -> None:
        self.cpu0 = time.process_time()
        self.wall0 = time.monotonic()

    def result(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.wall0, 1e-9)
        cpu = time.process_time() - self.cpu0
        return {"cpu_s": cpu, "wall_s": wall, "util": cpu / wall}


def client_figures(replies: list[dict[str, Any]], meter: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Client CPU: the busiest client process's share of a core, and a saturation flag."""
    utils = [r["cpu"]["util"] for r in replies if "cpu" in r]
    busiest = max(utils) if utils else 0.0
    out: dict[str, Any] = {"client_cpu_max_util": round(busiest, 3),
                           "client_cpu_s": round(sum(r["cpu"]["cpu_s"] for r in replies
                                                     if "cpu" in r), 2),
                           "client_saturated": int(busiest >= SATURATED)}
    return out


def process_figures(meter: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Server-side CPU and memory from a Meter window, flattened for aggregation."""
    out: dict[str, float] = {}
    for label in ("servers", "redis", "postgres", "baseline"):
        if label in meter:
            m = meter[label]
            out[f"{prefix}{label}_cpu_s"] = m["cpu_s"]
            out[f"{prefix}{label}_cpu_util"] = m["cpu_util"]
            if label in ("servers", "baseline"):
                out[f"{prefix}{label}_peak_rss_mb"] = m["peak_rss_mb"]
    return out


def saturation_note(runs: list[dict[str, Any]]) -> list[str]:
    if any(r.get("client_saturated") for r in runs):
        worst = max(r.get("client_cpu_max_util", 0) for r in runs)
        return [f"CLIENT SATURATED: a load-client process used {worst:.0%} of a core; the "
                "server figures may be limited by the client (use more --client-procs / CPUs)"]
    return []


def split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def merge_counts(replies: list[dict[str, Any]], key: str) -> dict[str, int]:
    """The per-process `{name: count}` dicts under `key`, summed over every reply."""
    out: dict[str, int] = {}
    for reply in replies:
        for name, value in reply.get(key, {}).items():
            out[name] = out.get(name, 0) + value
    return out


def error_counts(results: list[Any]) -> dict[str, int]:
    """How many of `results` (bounded_gather's) are exceptions, by type and message start."""
    out: dict[str, int] = {}
    for x in results:
        if isinstance(x, BaseException):
            key = f"{type(x).__name__}: {str(x)[:100]}"
            out[key] = out.get(key, 0) + 1
    return out


def flatness(samples: list[tuple[float, float]], floor_share: float = 0.01
             ) -> dict[str, float]:
    """Is a memory series flat? `samples` are (seconds, MB); judged on the last half in time.

    Least-squares slope over the last half; growth = slope × that half's span. The noise is
    twice the standard deviation of the samples around the fitted line (the allocator's and
    GC's wobble). Flat (1) when the growth is within max(noise, `floor_share` of the mean):
    a rise smaller than the wobble, or than 1 % of the process, is not growth.
    """
    if len(samples) < 3:
        return {"slope_mb_per_min": 0.0, "growth_mb": 0.0, "noise_mb": 0.0, "flat": 1,
                "samples": len(samples)}
    t_mid = (samples[0][0] + samples[-1][0]) / 2
    half = [s for s in samples if s[0] >= t_mid]
    if len(half) < 3:
        half = samples[-3:]
    n = len(half)
    mt = sum(t for t, _ in half) / n
    mv = sum(v for _, v in half) / n
    stt = sum((t - mt) ** 2 for t, _ in half)
    slope = sum((t - mt) * (v - mv) for t, v in half) / stt if stt > 0 else 0.0
    resid = [v - (mv + slope * (t - mt)) for t, v in half]
    sd = (sum(r * r for r in resid) / max(n - 2, 1)) ** 0.5
    growth = slope * (half[-1][0] - half[0][0])
    noise = 2 * sd
    return {"slope_mb_per_min": round(slope * 60, 3), "growth_mb": round(growth, 2),
            "noise_mb": round(noise, 2), "mean_mb": round(mv, 1),
            "flat": int(growth <= max(noise, floor_share * mv)), "samples": n}


def position_lags(msg: dict[str, Any], own_id: int, run_id: int, mark: Any, now: float
                  ) -> list[float]:
    """Seconds since each *other* member's marked move (`~run~seq~ns~` in its position's
    locator, `mark` the compiled pattern) in a presence diff's `updated` members."""
    lags = []
    for member in msg.get("updated") or ():
        if member.get("user_id") == own_id:
            continue
        pos = (member.get("meta") or {}).get("position") or {}
        found = mark.search(pos.get("locator") or "")
        if found and int(found.group(1)) == run_id:
            lags.append(now - int(found.group(3)) / 1e9)
    return lags
