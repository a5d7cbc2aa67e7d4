"""connect: C clients open, authenticate and subscribe (own `user:` room + one shared room) as
fast as the load client can, against Readalong and against bare websockets in the same run.

The figure is the connect rate and its ratio to bare websockets on the same client (the issue's
target: within 1.5x, i.e. a ratio of at least 0.67), plus the server CPU per connect (what the
capacity model takes: `server_cpu_ms_per_connect`, Redis's and PostgreSQL's apart).
"""

from __future__ import annotations

import math
import time
from argparse import Namespace
from typing import Any

from load import against
from load.procs import raise_nofile
from load.scenarios.common import saturation_note, split, unpack
from load.scenarios.idle import SHARED_ROOM
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens

TITLE = "connect: C clients authenticate + 2 subscribes, Readalong vs bare websockets"
DEFAULT_REPEATS = 1
ALL_SIZES = {"connect_clients": 5000}
ALL_REPEATS = 1
AGENT = "load.scenarios.idle:IdleAgent"


def add_arguments(g: Any) -> None:
    g.add_argument("--connect-clients", type=int, default=10000)
    g.add_argument("--connect-servers", type=int, default=1,
                   help="Readalong server processes (the baseline is one process)")
    g.add_argument("--connect-concurrency", type=int, default=500,
                   help="connections opening at once, per client process")
    against.add_argument(g, "connect")


def quick(args: Namespace) -> None:
    args.connect_clients = min(args.connect_clients, 500)


def params(args: Namespace) -> dict[str, Any]:
    return {"clients": args.connect_clients, "servers": args.connect_servers,
            "concurrency": args.connect_concurrency, "shared_room": SHARED_ROOM,
            "against": args.connect_against or None}


def _procs(args: Namespace, c: int) -> int:
    return max(args.client_procs, math.ceil(c / max(1000, raise_nofile() - 1000)))


def _connect(stack: Stack, args: Namespace, urls: list[str], users: list[int],
             toks: list[str], label: str, baseline: Any = None) -> dict[str, Any]:
    """Open len(toks) - 2 clients (2 warm ones first), metered; the figures under `label`."""
    c = len(toks) - 2
    procs = _procs(args, c)
    pool = stack.pool(AGENT, procs)
    try:
        pool.call("connect", {"urls": urls, "users": users[:2], "toks": toks[:2],
                              "shared": SHARED_ROOM, "concurrency": 2, "offset": 0},
                  timeout=60, only=[0])
        time.sleep(1.0)
        meter = stack.meter(pool, baseline=baseline)
        targets, at = [], 2
        meter.start()
        t0 = time.monotonic()
        for i, k in enumerate(split(c, procs)):
            targets += pool.send("connect", {
                "urls": urls, "users": users[at:at + k], "toks": toks[at:at + k],
                "shared": SHARED_ROOM, "concurrency": args.connect_concurrency, "offset": at},
                only=[i])
            at += k
        replies = pool.gather(targets, 900)
        elapsed = time.monotonic() - t0
        m = meter.stop()
        connected = sum(r["connected"] for r in replies)
        errors: dict[str, int] = {}
        for r in replies:
            for key, v in r["errors"].items():
                errors[key] = errors.get(key, 0) + v
        n = max(connected, 1)
        side = "baseline" if baseline is not None else "servers"
        fig: dict[str, Any] = {
            f"{label}connected": connected,
            f"{label}connect_s": round(elapsed, 2),
            f"{label}connect_rate_per_s": round(connected / max(elapsed, 1e-9), 1),
            f"{label}server_cpu_ms_per_connect": round(
                1000 * m.get(side, {}).get("cpu_s", 0.0) / n, 3),
            f"{label}clients_cpu_util": m.get("clients", {}).get("cpu_util", 0.0),
            f"{label}errors": errors,
            **latency_summary(unpack([r["lat"] for r in replies]), f"{label}connect_"),
        }
        if baseline is None:
            fig["redis_cpu_ms_per_connect"] = round(
                1000 * m.get("redis", {}).get("cpu_s", 0.0) / n, 3)
            fig["postgres_cpu_ms_per_connect"] = round(
                1000 * m.get("postgres", {}).get("cpu_s", 0.0) / n, 3)
        return fig
    finally:
        stack.close_pool(pool)


RATIOS = (("connect_rate_per_s", "connect rate (conn/s)"),
          ("server_cpu_ms_per_connect", "server CPU per connect (ms)"),
          ("redis_cpu_ms_per_connect", "Redis CPU per connect (ms)"),
          ("connect_p99_ms", "connect+subscribe p99 ms"))


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    c = args.connect_clients
    stack.start_engines()
    users = ensure_users(stack, c + 2)
    toks = tokens(stack, users)
    variants = against.variants(stack, args.connect_against)
    by_label: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in variants}
    for r in range(repeats):
        figs = []
        for label, root in variants:  # alternated: both see the same machine
            stack.flush_redis()
            servers = stack.start_servers(args.connect_servers, root=root)
            profiler = None
            if args.profile and root is None:
                from load.profile import Profiler

                profiler = Profiler([s.pid for s in servers if s.pid], None, f"connect-{c}",
                                    stack.pinning.clients).start()
            try:
                fig = _connect(stack, args, [s.ws_url for s in servers], users, toks, "")
            finally:
                fig_profile = profiler.finish() if profiler is not None else []
                stack.stop_servers()
            fig["profile"] = fig_profile
            fig["variant"] = label
            figs.append(fig)
            by_label[label].append(fig)
        base = stack.start_baseline()
        try:
            bare = _connect(stack, args, [base.ws_url], users, toks, "baseline_", baseline=base)
        finally:
            stack.stop_child(base)
        for fig in figs:
            fig.update(bare)
            fig["connect_rate_ratio"] = round(
                fig["connect_rate_per_s"] / max(fig["baseline_connect_rate_per_s"], 1e-9), 2)
            fig["cpu_per_connect_ratio"] = round(
                fig["server_cpu_ms_per_connect"]
                / max(fig["baseline_server_cpu_ms_per_connect"], 1e-9), 2)
            fig["failed"] = c - fig["connected"]
            fig["client_saturated"] = int(max(fig["clients_cpu_util"],
                                              fig["baseline_clients_cpu_util"]) > 0.9)
            fig["client_cpu_max_util"] = max(fig["clients_cpu_util"],
                                             fig["baseline_clients_cpu_util"])
            which = "" if fig["variant"] == against.THIS_TREE else f" ({fig['variant']})"
            print(f"   connect C={c} run {r + 1}{which}: {fig['connect_rate_per_s']:.0f} conn/s "
                  f"vs bare {fig['baseline_connect_rate_per_s']:.0f} (ratio "
                  f"{fig['connect_rate_ratio']}), {fig['server_cpu_ms_per_connect']} ms server "
                  f"CPU per connect vs {fig['baseline_server_cpu_ms_per_connect']}", flush=True)
    return [_section(args, label, by_label[label],
                     against.ratio_notes(by_label, args.connect_against, RATIOS)
                     if label == against.THIS_TREE else [])
            for label, _ in variants]


def _section(args: Namespace, label: str, runs: list[dict[str, Any]],
             extra: list[str]) -> dict[str, Any]:
    c = args.connect_clients
    notes = [f"{c} clients, each: open + bearer auth + subscribe `user:<id>` + subscribe "
             f"`{SHARED_ROOM}`, {args.connect_concurrency} at once per client process; "
             f"{args.connect_servers} Readalong process(es) vs 1 bare websockets process, "
             "same client code and processes; CPU per connect = process CPU over the connect "
             "window / connections"]
    for fig in runs:
        if fig["errors"] or fig["baseline_errors"]:
            notes.append(f"connect errors: {fig['errors']} baseline: {fig['baseline_errors']}")
        if fig["profile"]:
            notes.append("connect phase " + "\n    ".join(fig["profile"]))
    return {"title": against.title(f"connect C={c}", label), "runs": runs,
            "notes": notes + extra + saturation_note(runs),
            "headline": [
                ("connected", "connected"), ("failed", "failed to connect"),
                ("connect_rate_per_s", "connect rate (conn/s)"),
                ("baseline_connect_rate_per_s", "bare websockets: connect rate (conn/s)"),
                ("connect_rate_ratio", "  Readalong / bare websockets (target >= 0.67)"),
                ("server_cpu_ms_per_connect", "server CPU per connect (ms)"),
                ("baseline_server_cpu_ms_per_connect", "bare websockets: CPU per connect (ms)"),
                ("cpu_per_connect_ratio", "  Readalong / bare websockets"),
                ("redis_cpu_ms_per_connect", "Redis CPU per connect (ms)"),
                ("postgres_cpu_ms_per_connect", "PostgreSQL CPU per connect (ms)"),
                ("connect_p50_ms", "connect+subscribe p50 ms"),
                ("connect_p99_ms", "connect+subscribe p99 ms"),
                ("baseline_connect_p99_ms", "bare websockets: p99 ms"),
                ("client_cpu_max_util", "busiest client process")]}
