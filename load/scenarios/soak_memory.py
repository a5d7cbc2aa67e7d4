"""The soak's memory verdict: each process's private memory judged, shared memory against its bound.

A process's RSS mixes what it allocated with pages it shares. PostgreSQL's backends map one
shared segment (`shared_memory_size`: shared buffers and the rest) and each backend's RSS (and
the tree's PSS) grows as queries touch more of it, up to that size: a cache filling toward a
configured bound, not growth. So the series sampled (soak_series.memory_parts) are split:
private (anonymous pages: heaps, stacks), shared (shared memory) and file-backed (binaries
and libraries), and the criterion is

- every process's private memory flat over the last half (`common.flatness`);
- PostgreSQL's shared memory within its segment (stated with the figure);
- Redis's dataset (`used_memory`, INFO memory) flat over the last half;

while the totals (RSS; PSS for PostgreSQL's tree) are still reported next to them. Without the
split (no smaps_rollup) the totals are judged, as before.
"""

from __future__ import annotations

from typing import Any

from load.scenarios import common

Series = list[tuple[float, float]]


def _line(what: str, samples: Series, f: dict[str, float]) -> str:
    first = samples[0][1] if samples else 0.0
    last = samples[-1][1] if samples else 0.0
    return (f"{what} {first:.1f} → {last:.1f} MB; last half slope {f['slope_mb_per_min']:+.2f}"
            f" MB/min, growth {f['growth_mb']:+.1f} MB vs noise {f['noise_mb']:.1f} MB"
            f" ({f['samples']} samples): {'flat' if f['flat'] else 'GROWING'}")


def memory_figures(totals: dict[str, Series], parts: dict[str, dict[str, Series]] | None = None,
                   gauges: dict[str, Series] | None = None,
                   shared_bound_mb: float | None = None) -> tuple[dict[str, Any], list[str]]:
    """Figures and note lines for the memory criterion. `totals`: label -> RSS (PSS for a
    tree) series; `parts`: label -> {"private", "shared", "file"} series; `gauges`: other
    series judged flat (e.g. "redis_used"); `shared_bound_mb`: PostgreSQL's segment."""
    parts, gauges = parts or {}, gauges or {}
    fig: dict[str, Any] = {}
    notes: list[str] = []
    growing: list[str] = []
    for label, samples in totals.items():
        f = common.flatness(samples)
        fig[f"{label}_rss_mb_end"] = samples[-1][1] if samples else 0.0
        fig[f"{label}_rss_growth_mb_last_half"] = f["growth_mb"]
        fig[f"{label}_rss_noise_mb"] = f["noise_mb"]
        fig[f"{label}_rss_flat"] = f["flat"]
        private = parts.get(label, {}).get("private") or []
        if len(private) < 3:  # no split: judge the total
            notes.append(f"{label}: " + _line("RSS", samples, f))
            if not f["flat"]:
                growing.append(label)
            continue
        p = common.flatness(private)
        fig[f"{label}_private_mb_end"] = private[-1][1]
        fig[f"{label}_private_growth_mb_last_half"] = p["growth_mb"]
        fig[f"{label}_private_slope_mb_per_min"] = p["slope_mb_per_min"]
        fig[f"{label}_private_flat"] = p["flat"]
        if not p["flat"]:
            growing.append(f"{label} (private)")
        shared = parts[label].get("shared") or []
        file_ = parts[label].get("file") or []
        fig[f"{label}_shared_mb_end"] = shared[-1][1] if shared else 0.0
        fig[f"{label}_file_mb_end"] = file_[-1][1] if file_ else 0.0
        line = (f"{label}: {_line('private', private, p)}; shared "
                f"{shared[0][1] if shared else 0:.1f} → {fig[f'{label}_shared_mb_end']:.1f} MB, "
                f"file-backed {file_[0][1] if file_ else 0:.1f} → "
                f"{fig[f'{label}_file_mb_end']:.1f} MB; total {_line('', samples, f)} "
                "(reported, not judged)")
        if label == "postgres" and shared_bound_mb:
            peak = max(v for _, v in shared) if shared else 0.0
            fig["postgres_shared_bound_mb"] = round(shared_bound_mb, 1)
            fig["postgres_shared_within_bound"] = int(peak <= shared_bound_mb)
            line += (f"; shared peak {peak:.1f} MB of its {shared_bound_mb:.0f}-MB segment "
                     f"(shared_memory_size): {'within' if peak <= shared_bound_mb else 'OVER'}")
            if peak > shared_bound_mb:
                growing.append("postgres (shared over its segment)")
        notes.append(line)
    for name, samples in gauges.items():
        if len(samples) < 3:
            continue
        g = common.flatness(samples)
        fig[f"{name}_mb_end"] = samples[-1][1]
        fig[f"{name}_growth_mb_last_half"] = g["growth_mb"]
        fig[f"{name}_flat"] = g["flat"]
        notes.append(f"{name}: {_line('', samples, g)}")
        if not g["flat"]:
            growing.append(name)
    fig["memory_flat"] = int(not growing)
    fig["memory_growing"] = ", ".join(growing)
    return fig, notes
