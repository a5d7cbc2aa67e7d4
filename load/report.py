"""Benchmark reports: one JSON file and one Markdown summary per run, under load/results/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_HEADER = (
    "<!-- The reference figures: written by `python -m load <scenario> --write-baseline` "
    "(make bench "
    "BENCH_ARGS=--write-baseline) on a quiet machine and committed by hand. Compare ratios to "
    "the websockets baseline rather than absolute numbers across machines. -->\n\n")


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def figure(summary: dict[str, dict[str, float]], key: str) -> str:
    """'median (min–max)' for one aggregated figure, or '—'."""
    s = summary.get(key)
    if not s:
        return "—"
    if s["n"] == 1 or s["min"] == s["max"]:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} ({_fmt(s['min'])}–{_fmt(s['max'])})"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Readalong benchmark: {report['scenario']}", "",
             f"- command: `{report['command']}`",
             f"- started: {report['started']} UTC, took {report['duration_s']:.0f} s",
             f"- machine: {report['machine']['cores']} cores ({report['machine']['cpu_model']}), "
             f"{report['machine']['memory_gb']} GB, load average at start "
             f"{report['machine'].get('load_average_at_start')}",
             f"- pinning: {json.dumps(report['pinning'])}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
             f"- parameters: {json.dumps(report['params'])}",
             f"- runs: {report['repeats']} (figures are the median, (min–max) across runs)", ""]
    for section in report["sections"]:
        lines += [f"## {section['title']}", ""]
        if section.get("status") == "pending":
            lines += [f"PENDING: {section.get('reason', '')}", ""]
            continue
        lines += ["| figure | value |", "|---|---|"]
        summary = section["summary"]
        for key, label in section["headline"]:
            if key in summary:
                lines.append(f"| {label} | {figure(summary, key)} |")
        lines.append("")
        for note in section.get("notes", []):
            lines.append(f"- {note}")
        if section.get("notes"):
            lines.append("")
        rest = [k for k in summary if k not in dict(section["headline"])]
        if rest:
            lines += ["<details><summary>all figures</summary>", "",
                      "| figure | median | min | max |", "|---|---|---|---|"]
            for k in rest:
                s = summary[k]
                lines.append(f"| {k} | {_fmt(s['median'])} | {_fmt(s['min'])} | {_fmt(s['max'])} |")
            lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def table(report: dict[str, Any]) -> str:
    """The terminal summary: one block per section with its headline figures."""
    out: list[str] = []
    width = 46
    for section in report["sections"]:
        out.append(f"== {section['title']}")
        if section.get("status") == "pending":
            out.append(f"   PENDING: {section.get('reason', '')}")
            continue
        for key, label in section["headline"]:
            if key in section["summary"]:
                out.append(f"   {label:<{width}} {figure(section['summary'], key)}")
        for note in section.get("notes", []):
            out.append(f"   * {note}")
    return "\n".join(out)


def write(report: dict[str, Any], out_dir: Path = RESULTS) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = out_dir / f"{stamp}-{report['scenario']}"
    json_path = base.with_suffix(".json")
    md_path = base.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(markdown(report))
    return json_path, md_path
