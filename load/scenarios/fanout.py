"""fanout: one big room, N subscribers on 2 server processes, one publisher stepping its rate.

Each published event carries `~run~seq~time_ns~` in its text; every subscriber records the
end-to-end latency (publisher clock -> receipt), duplicates, offsets going backwards and, at the
end of each step, which acked events it never got. The same client drives the `websockets`
baseline in the same run, and Readalong's figures are printed as a ratio of it.
"""

from __future__ import annotations

import array
import asyncio
import math
import re
import time
from argparse import Namespace
from typing import Any

from load.hubclient import Hub, bounded_gather, hub_missing
from load.scenarios.common import (
    CpuWindow,
    client_figures,
    process_figures,
    saturation_note,
    split,
    unpack,
)
from load.stack import Stack
from load.stats import latency_summary
from load.users import ensure_users, tokens
from load.wsclient import WSClient

TITLE = "fan-out: one room, N subscribers on 2 processes, rate stepped to the limit"
DEFAULT_REPEATS = 2
# `python -m load all` (make bench): modest sizes, ~10 minutes on 2 cores
ALL_SIZES = {"fanout_duration": 4.0}
ALL_REPEATS = 2
MARK = re.compile(rb"~(\d+)~(\d+)~(\d+)~")
OFFSET = re.compile(rb'"offset":(\d+)')
PER_CONN_PUBLISH_RATE = 8.0  # stay under the hub's per-connection publish bucket (10/s)


def add_arguments(g: Any) -> None:
    g.add_argument("--fanout-subscribers", type=int, default=1000)
    g.add_argument("--fanout-servers", type=int, default=2)
    g.add_argument("--fanout-steps", default="10000,20000,30000,45000,60000,80000,100000,130000",
                   help="delivery rates to try (deliveries/s = events/s x subscribers)")
    g.add_argument("--fanout-duration", type=float, default=5.0, help="seconds per step")
    g.add_argument("--fanout-p99-ms", type=float, default=250.0,
                   help="a step is sustainable with p99 under this and no loss")
    g.add_argument("--fanout-reference", type=int, default=30000,
                   help="delivery rate whose latency is reported on its own")
    g.add_argument("--fanout-refine", type=int, default=2,
                   help="extra steps bisecting between the last sustainable and the first "
                        "failing rate")
    g.add_argument("--fanout-room", default="lobby:bench-fanout")
    g.add_argument("--fanout-no-baseline", action="store_true")
    g.add_argument("--fanout-cluster", type=int, default=0, metavar="SHARDS",
                   help="also run the hub on a local Valkey cluster of SHARDS primaries "
                        "(tests/cluster_support.py) and report it against single Redis")


def quick(args: Namespace) -> None:
    args.fanout_subscribers = min(args.fanout_subscribers, 200)
    args.fanout_steps = "2000,6000,12000"
    args.fanout_reference = 6000
    args.fanout_duration = min(args.fanout_duration, 2.0)
    args.fanout_refine = 0


def params(args: Namespace) -> dict[str, Any]:
    return {"subscribers": args.fanout_subscribers, "servers": args.fanout_servers,
            "cluster_shards": args.fanout_cluster,
            "steps": args.fanout_steps, "step_s": args.fanout_duration,
            "p99_limit_ms": args.fanout_p99_ms, "room": args.fanout_room,
            "refine": args.fanout_refine, "reference": args.fanout_reference}


class _Sub:
    __slots__ = ("dups", "last_offset", "order", "seen")

    def __init__(self) -> None:
        self.seen = bytearray()
        self.last_offset = -1
        self.dups = 0
        self.order = 0


class SubAgent:
    """Subscribers: record latency, duplicates, order and gaps per connection."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.clients: list[WSClient] = []
        self.run = -1
        self.lat = array.array("d")
        self.stray = 0
        self.cpu: CpuWindow | None = None

    def _on_message(self, client: WSClient, payload: bytes) -> None:
        m = MARK.search(payload)
        if m is None:
            self.hub.control(client, payload)
            return
        now = time.time_ns()
        run = int(m.group(1))
        if run != self.run:
            self.stray += 1
            return
        seq = int(m.group(2))
        sub: _Sub = client.state["sub"]
        self.lat.append((now - int(m.group(3))) / 1e9)
        if seq >= len(sub.seen):
            sub.seen.extend(bytes(seq + 1 - len(sub.seen)))
        if sub.seen[seq]:
            sub.dups += 1
            return
        sub.seen[seq] = 1
        o = OFFSET.search(payload)
        if o is not None:
            off = int(o.group(1))
            if off <= sub.last_offset:
                sub.order += 1
            else:
                sub.last_offset = off

    async def connect(self, urls: list[str], toks: list[str], room: str,
                      concurrency: int = 200) -> dict[str, Any]:
        t0 = time.monotonic()

        async def one(i: int) -> WSClient:
            c = await self.hub.open(urls[i % len(urls)], toks[i], on_message=self._on_message)
            c.state["sub"] = _Sub()
            await self.hub.subscribe(c, room, timeout=60)
            return c

        results = await bounded_gather([lambda i=i: one(i) for i in range(len(toks))],
                                       concurrency)
        self.clients = [r for r in results if isinstance(r, WSClient)]
        errors = [repr(r)[:200] for r in results if not isinstance(r, WSClient)]
        return {"connected": len(self.clients), "failed": len(errors), "errors": errors[:5],
                "elapsed": time.monotonic() - t0}

    async def mark(self, run: int) -> dict[str, Any]:
        self.run = run
        self.lat = array.array("d")
        self.stray = 0
        for c in self.clients:
            c.state["sub"] = _Sub() if "sub" not in c.state else c.state["sub"]
            s: _Sub = c.state["sub"]
            s.seen = bytearray()
            s.dups = s.order = 0
        self.cpu = CpuWindow()
        return {}

    async def collect(self, acked: bytes, drain: float = 10.0) -> dict[str, Any]:
        wanted = [i for i, v in enumerate(acked) if v]
        cpu = self.cpu.result() if self.cpu else {}

        def missing() -> int:
            total = 0
            for c in self.clients:
                seen = c.state["sub"].seen
                n = len(seen)
                total += sum(1 for i in wanted if i >= n or not seen[i])
            return total

        deadline = time.monotonic() + drain
        lost = missing()
        while lost and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            lost = missing()
        alive = sum(1 for c in self.clients if c.is_open)
        closes: dict[str, int] = {}
        for c in self.clients:
            if not c.is_open:
                closes[str(c.close_code)] = closes.get(str(c.close_code), 0) + 1
        return {"lat": self.lat.tobytes(), "lost": lost,
                "dups": sum(c.state["sub"].dups for c in self.clients),
                "order": sum(c.state["sub"].order for c in self.clients),
                "stray": self.stray, "alive": alive, "closes": closes, "cpu": cpu,
                "hub_errors": dict(self.hub.errors)}

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(c.close(timeout=2) for c in self.clients),
                             return_exceptions=True)
        self.clients = []
        return {}


class PubAgent:
    """The publisher: paced `publish` commands over a few connections (per-connection limits)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.hub = Hub()
        self.clients: list[WSClient] = []
        self.room = ""
        self.chat = False

    def _on_message(self, client: WSClient, payload: bytes) -> None:
        if MARK.search(payload) is None or b'"ack"' in payload[:20]:
            self.hub.control(client, payload)

    async def connect(self, url: str, toks: list[str], room: str,
                      chat: bool = False) -> dict[str, Any]:
        """`chat`: publish discussion `chat` commands (a club room) instead of plain text."""
        self.room = room
        self.chat = chat
        for tok in toks:
            c = await self.hub.open(url, tok, on_message=self._on_message)
            await self.hub.subscribe(c, room, timeout=60)
            self.clients.append(c)
        return {"connected": len(self.clients)}

    async def publish(self, run: int, rate: float, duration: float, conns: int,
                      text_pad: int = 0) -> dict[str, Any]:
        conns = max(1, min(conns, len(self.clients)))
        n = max(1, int(rate * duration))
        acked = bytearray(n)
        ack_lat = array.array("d")
        errors: dict[str, int] = {}
        futs: list[asyncio.Future[Any]] = []
        cpu = CpuWindow()
        pad = "x" * text_pad
        loop = asyncio.get_running_loop()

        def done(seq: int, t0: float, fut: asyncio.Future[Any]) -> None:
            exc = fut.exception() if not fut.cancelled() else None
            if exc is None and not fut.cancelled():
                acked[seq] = 1
                ack_lat.append(time.monotonic() - t0)
            else:
                code = getattr(exc, "code", type(exc).__name__)
                errors[code] = errors.get(code, 0) + 1

        start = time.monotonic()
        seq = 0
        while seq < n:
            now = time.monotonic()
            due = min(n, int((now - start) * rate) + 1)
            while seq < due:
                text = f"~{run}~{seq}~{time.time_ns()}~{pad}"
                frame = {"type": "publish", "room": self.room,
                         "data": {"type": "chat", "body": text} if self.chat else {"text": text}}
                fut = self.hub.send(self.clients[seq % conns], frame)
                assert fut is not None
                fut.add_done_callback(lambda f, s=seq, t=time.monotonic(): done(s, t, f))
                futs.append(fut)
                seq += 1
            await asyncio.sleep(max(0.0, start + seq / rate - time.monotonic()))
        send_s = time.monotonic() - start
        if futs:
            await asyncio.wait(futs, timeout=15)
        for f in futs:
            if not f.done():
                f.cancel()
        await asyncio.sleep(0)
        del loop
        return {"sent": n, "acked": bytes(acked), "acked_n": sum(acked), "errors": errors,
                "ack_lat": ack_lat.tobytes(), "send_s": send_s, "cpu": cpu.result()}

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(c.close(timeout=2) for c in self.clients),
                             return_exceptions=True)
        return {}


def _step(stack: Stack, subs: Any, pub: Any, run: int, deliveries: int, n: int,
          args: Namespace, baseline: Any, profile_label: str | None = None) -> dict[str, Any]:
    rate = deliveries / n
    conns = max(1, math.ceil(rate / PER_CONN_PUBLISH_RATE))
    subs.call("mark", {"run": run}, timeout=30)
    meter = stack.meter(subs, baseline)
    profiler = None
    if profile_label:
        from load.profile import Profiler

        pids = [baseline.pid] if baseline is not None else [s.pid for s in stack.servers]
        profiler = Profiler([p for p in pids if p], args.fanout_duration, profile_label,
                            stack.pinning.clients).start()
    meter.start()
    [p] = pub.call("publish", {"run": run, "rate": rate, "duration": args.fanout_duration,
                               "conns": conns}, timeout=args.fanout_duration + 60)
    replies = subs.call("collect", {"acked": p["acked"], "drain": 10.0}, timeout=60)
    m = meter.stop()
    lat = unpack([r["lat"] for r in replies])
    lost = sum(r["lost"] for r in replies)
    delivered = len(lat)
    window = max(p["send_s"], 1e-9)
    fig: dict[str, Any] = {
        "target_deliveries_per_s": deliveries, "events_per_s": round(rate, 2),
        "published": p["sent"], "acked": p["acked_n"],
        "publish_errors": sum(p["errors"].values()),
        "delivered": delivered, "delivered_per_s": round(delivered / window, 1),
        "lost": lost, "duplicates": sum(r["dups"] for r in replies),
        "order_violations": sum(r["order"] for r in replies),
        "disconnected": n - sum(r["alive"] for r in replies),
        **latency_summary(lat), **process_figures(m),
        **client_figures([*replies, p]),
        "publisher_errors_by_code": p["errors"],
        "closes": {k: v for r in replies for k, v in r["closes"].items()},
    }
    if profiler is not None:
        fig["profile"] = profiler.finish()
    fig["sustainable"] = int(fig["lost"] == 0 and fig["publish_errors"] == 0
                             and fig["p99_ms"] < args.fanout_p99_ms
                             and fig["acked"] >= 0.99 * p["sent"]
                             and p["send_s"] <= args.fanout_duration * 1.1
                             and fig["disconnected"] == 0)
    return fig


def _target(stack: Stack, name: str, urls: list[str], args: Namespace, repeats: int,
            baseline: Any, run_base: int) -> tuple[list[dict[str, Any]], list[list[dict]], dict]:
    """Connect the subscribers and the publisher to `urls`, step the rate `repeats` times."""
    n = args.fanout_subscribers
    steps = [int(s) for s in args.fanout_steps.split(",") if s.strip()]
    max_pub_conns = max(1, math.ceil(max(steps) / n / PER_CONN_PUBLISH_RATE))
    users = ensure_users(stack, n + max_pub_conns)
    toks = tokens(stack, users)
    procs = args.client_procs
    per = split(n, procs)
    chunks, at = [], 0
    for k in per:
        chunks.append(toks[at:at + k])
        at += k
    subs = stack.pool("load.scenarios.fanout:SubAgent", procs)
    pub = stack.pool("load.scenarios.fanout:PubAgent", 1)
    try:
        t0 = time.monotonic()
        # each process spreads its own connections over the servers, so the split stays even
        conn_replies = []
        for i, chunk in enumerate(chunks):
            subs.send("connect", {"urls": urls, "toks": chunk, "room": args.fanout_room}, [i])
        conn_replies = subs.gather(list(range(procs)), 600)
        connect_s = time.monotonic() - t0
        connected = sum(r["connected"] for r in conn_replies)
        if connected < n:
            errs = [e for r in conn_replies for e in r["errors"]]
            raise RuntimeError(f"{name}: only {connected}/{n} subscribers connected: {errs[:3]}")
        pub.call("connect", {"url": urls[0], "toks": toks[n:n + max_pub_conns],
                             "room": args.fanout_room}, timeout=120)
        runs: list[dict[str, Any]] = []
        all_steps: list[list[dict]] = []
        for r in range(repeats):
            steps_done: list[dict[str, Any]] = []
            best = 0
            ref: dict[str, Any] | None = None
            run_no = iter(range(run_base + r * 100, run_base + r * 100 + 99))

            def one_step(deliveries: int) -> dict[str, Any]:
                label = f"fanout-{name}" if (args.profile and r == 0
                                             and deliveries == args.fanout_reference) else None
                fig = _step(stack, subs, pub, next(run_no), deliveries, n, args, baseline,
                            label)
                steps_done.append(fig)
                cpu = fig.get("servers_cpu_util", fig.get("baseline_cpu_util"))
                print(f"   {name} run {r + 1} step {deliveries:>7}/s: delivered "
                      f"{fig['delivered_per_s']:>9.0f}/s p99 {fig['p99_ms']:>8.1f} ms lost "
                      f"{fig['lost']} dup {fig['duplicates']} order {fig['order_violations']} "
                      f"errors {fig['publish_errors']} server cpu {cpu} "
                      f"client {fig['client_cpu_max_util']}", flush=True)
                return fig

            good, bad = 0, 0
            for deliveries in steps:
                fig = one_step(deliveries)
                if deliveries == args.fanout_reference:
                    ref = fig
                if not fig["sustainable"]:
                    bad = deliveries
                    break
                good = deliveries
                best = max(best, int(fig["delivered_per_s"]))
            # narrow the limit down between the last good step and the first bad one
            for _ in range(args.fanout_refine if bad else 0):
                mid = round((good + bad) / 2 / 1000.0) * 1000
                if mid <= good or mid >= bad:
                    break
                fig = one_step(mid)
                if fig["sustainable"]:
                    good = mid
                    best = max(best, int(fig["delivered_per_s"]))
                else:
                    bad = mid
            if ref is None:  # the reference rate is always measured, even past the limit
                ref = one_step(args.fanout_reference)
            run_fig: dict[str, Any] = {"max_sustainable_deliveries_per_s": best,
                                       "connect_s": round(connect_s, 2)}
            top = max((s for s in steps_done if s["sustainable"]),
                      key=lambda s: s["delivered_per_s"], default=None)
            if top is not None:
                for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "servers_cpu_util",
                            "redis_cpu_util", "baseline_cpu_util", "client_cpu_max_util"):
                    if key in top:
                        run_fig[f"at_max_{key}"] = top[key]
            if ref is not None:
                for key in ("delivered_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "lost",
                            "duplicates", "order_violations", "servers_cpu_util",
                            "servers_peak_rss_mb", "redis_cpu_util", "baseline_cpu_util",
                            "client_cpu_max_util", "client_saturated"):
                    if key in ref:
                        run_fig[f"ref_{key}"] = ref[key]
            run_fig["lost_total"] = sum(s["lost"] for s in steps_done)
            run_fig["client_saturated"] = max(s["client_saturated"] for s in steps_done)
            run_fig["client_cpu_max_util"] = max(s["client_cpu_max_util"] for s in steps_done)
            runs.append(run_fig)
            all_steps.append(steps_done)
        info = {"connect_s": connect_s}
        return runs, all_steps, info
    finally:
        stack.close_pool(pub)
        stack.close_pool(subs)


def _headline(prefix: str) -> list[tuple[str, str]]:
    return [("max_sustainable_deliveries_per_s", f"{prefix}max sustainable deliveries/s"),
            ("at_max_p99_ms", "  p99 ms at that rate"),
            ("ref_delivered_per_s", "  at the reference rate: delivered/s"),
            ("ref_p50_ms", "  reference p50 ms"), ("ref_p95_ms", "  reference p95 ms"),
            ("ref_p99_ms", "  reference p99 ms"), ("ref_max_ms", "  reference max ms"),
            ("ref_lost", "  reference lost"), ("ref_duplicates", "  reference duplicates"),
            ("ref_order_violations", "  reference order violations"),
            ("ref_servers_cpu_util", "  server CPU (cores) at reference"),
            ("ref_redis_cpu_util", "  Redis CPU (cores) at reference"),
            ("ref_baseline_cpu_util", "  baseline CPU (cores) at reference"),
            ("ref_servers_peak_rss_mb", "  servers peak RSS MB"),
            ("client_cpu_max_util", "  busiest client process (share of a core)"),
            ("connect_s", "  connect + subscribe all (s)")]


def _step_notes(name: str, all_steps: list[list[dict]]) -> list[str]:
    out = []
    for r, steps in enumerate(all_steps):
        parts = [f"{s['target_deliveries_per_s']}→{s['delivered_per_s']:.0f} "
                 f"p99 {s['p99_ms']:.0f}ms{'' if s['sustainable'] else ' ✗'}" for s in steps]
        out.append(f"{name} run {r + 1} steps: " + "; ".join(parts))
    for steps in all_steps:
        for s in steps:
            if s.get("profile"):
                out.append(f"{name} at {s['target_deliveries_per_s']}/s " + "\n    ".join(
                    s["profile"]))
            if s["publisher_errors_by_code"]:
                out.append(f"{name} publish errors at {s['target_deliveries_per_s']}/s: "
                           f"{s['publisher_errors_by_code']}")
            if s["closes"]:
                out.append(f"{name} closed sockets at {s['target_deliveries_per_s']}/s: "
                           f"{s['closes']}")
    return out


def run(stack: Stack, args: Namespace, repeats: int) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    stack.start_engines()
    if not args.fanout_no_baseline:
        base = stack.start_baseline()
        try:
            base_runs, steps, _ = _target(stack, "baseline", [base.ws_url], args, repeats,
                                          base, 1000)
        finally:
            stack.stop_child(base)
        sections.append({"title": "fanout/baseline: websockets broadcast(), 1 process, no Redis",
                         "runs": base_runs, "headline": _headline(""),
                         "notes": _step_notes("baseline", steps) + saturation_note(base_runs)})
    stack.flush_redis()
    servers = stack.start_servers(args.fanout_servers)
    try:
        reason = hub_missing(servers[0].ws_url)
        if reason:
            return [*sections, {"title": "fanout/readalong", "status": "pending",
                                "reason": reason}]
        runs, steps, _ = _target(stack, "readalong", [s.ws_url for s in servers], args, repeats,
                                 None, 5000)
    finally:
        stack.stop_servers()
    notes = _step_notes("readalong", steps) + saturation_note(runs) + [
        f"the publisher uses ceil(events/s / {PER_CONN_PUBLISH_RATE:g}) sockets (the hub allows 10 "
        "publishes/s per socket and only members may publish), so those sockets are members of "
        "the room too; their copies are not counted as deliveries"]
    if base_runs:
        _compare(runs, base_runs, "baseline")
    headline = _headline("")
    if base_runs:
        headline.insert(1, ("ratio_vs_baseline", "ratio of the baseline's sustainable rate"))
        headline.insert(7, ("ref_p99_ratio_vs_baseline", "  reference p99 / baseline p99"))
    sections.append({"title": f"fanout/readalong: {args.fanout_servers} processes + Redis, "
                              f"{args.fanout_subscribers} subscribers in {args.fanout_room}",
                     "runs": runs, "headline": headline, "notes": notes})
    if args.fanout_cluster:
        sections.append(_on_cluster(stack, args, repeats, runs))
    return sections


def _compare(runs: list[dict[str, Any]], refs: list[dict[str, Any]], name: str) -> None:
    """Each run's sustainable rate and reference p99 as ratios to the reference run of the same
    index (the last one when there are fewer): `ratio_vs_<name>`, `ref_p99_ratio_vs_<name>`."""
    for i, r in enumerate(runs):
        ref = refs[min(i, len(refs) - 1)]
        top = ref.get("max_sustainable_deliveries_per_s") or 0
        r[f"ratio_vs_{name}"] = round(r["max_sustainable_deliveries_per_s"] / top, 3) \
            if top else 0.0
        if ref.get("ref_p99_ms") and r.get("ref_p99_ms"):
            r[f"ref_p99_ratio_vs_{name}"] = round(r["ref_p99_ms"] / ref["ref_p99_ms"], 2)


def _on_cluster(stack: Stack, args: Namespace, repeats: int,
                single: list[dict[str, Any]]) -> dict[str, Any]:
    """The same scenario with REDIS_URL=redis+cluster:// on a local cluster (no replicas: they
    only copy writes), the job queue on the single embedded instance."""
    from tests.cluster_support import LocalCluster

    stack.flush_redis()
    cluster = LocalCluster(stack.tmp / "cluster", primaries=args.fanout_cluster,
                           replicas=0).start()
    try:
        servers = stack.start_servers(args.fanout_servers, REDIS_URL=cluster.url,
                                      READALONG_QUEUE_URL=stack.redis_url)
        try:
            runs, steps, _ = _target(stack, "cluster", [s.ws_url for s in servers], args,
                                     repeats, None, 9000)
        finally:
            stack.stop_servers()
    finally:
        cluster.stop()
    _compare(runs, single, "single_redis")
    headline = _headline("")
    headline.insert(1, ("ratio_vs_single_redis", "ratio of the single-Redis sustainable rate"))
    headline.insert(7, ("ref_p99_ratio_vs_single_redis", "  reference p99 / single-Redis p99"))
    notes = _step_notes("cluster", steps) + saturation_note(runs) + [
        "one room lives on one shard (its hash tag): this compares the sharded path (SPUBLISH "
        "in the publish script, one SSUBSCRIBE connection per shard per process) with single "
        "Redis at equal load; the Redis CPU column is the single instance's (idle here)"]
    return {"title": f"fanout/cluster: {args.fanout_servers} processes + a "
                     f"{args.fanout_cluster}-shard Valkey cluster, {args.fanout_subscribers} "
                     f"subscribers in {args.fanout_room}",
            "runs": runs, "headline": headline, "notes": notes}
