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
