"""Percentiles of latency samples and the median/min/max of repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, round(q / 100.0 * len(sorted_values) + 0.5) - 1))
    return float(sorted_values[k])


def latency_summary(samples_s: Iterable[float], prefix: str = "") -> dict[str, float]:
    """p50/p95/p99/max in milliseconds, plus the sample count."""
    values = sorted(samples_s)
    ms = 1000.0
    return {
        f"{prefix}p50_ms": round(percentile(values, 50) * ms, 2),
        f"{prefix}p95_ms": round(percentile(values, 95) * ms, 2),
        f"{prefix}p99_ms": round(percentile(values, 99) * ms, 2),
        f"{prefix}max_ms": round((values[-1] if values else 0.0) * ms, 2),
        f"{prefix}samples": len(values),
    }


def aggregate(runs: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """For every numeric figure present in the runs: median, min and max across runs."""
    keys: list[str] = []
    for run in runs:
        for k, v in run.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        vals = [float(r[k]) for r in runs  # type: ignore[arg-type]
                if isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)]
        if vals:
            out[k] = {"median": round(statistics.median(vals), 3), "min": round(min(vals), 3),
                      "max": round(max(vals), 3), "n": len(vals)}
    return out
