"""Capacity on paper: web processes, Redis shards and PostgreSQL for N readers, from measured costs.

`python -m load capacity` starts nothing. It takes the per-operation costs measured by the
scenarios (the newest report JSONs in load/results/, else the documented defaults below with
their source, or what you pass as options), the activity you expect, and prints the model's
arithmetic line by line (figure × rate = cores) and its answer. The model is linear in the
rates: it is as good as the costs it is fed and says nothing about latency under saturation,
hence the headroom factor (cores are provisioned at `--headroom` × the computed need).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MEASURED_NODES = 2  # the rooms scenario (Redis CPU per event) runs two web processes

# name -> (default, unit, source). Measured on the 2-core build machine (AMD EPYC, servers,
# Redis and PostgreSQL pinned to one core) unless the source says "estimate".
DEFAULTS: dict[str, tuple[float, str, str]] = {
    "cpu_per_delivery_us": (12.8, "µs web CPU per delivered frame",
                            "fanout, BASELINE.md 2026-11-23: 0.384 cores at 30,001 deliveries/s"),
    "cpu_per_connect_ms": (3.2, "ms server-core time per authenticated connect + 2 subscribes",
                           "idle C=10,000, BASELINE.md 2026-11-23: 315 connects/s with the "
                           "servers, Redis and PostgreSQL on one core (an upper bound)"),
    "cpu_per_move_ms": (1.38, "ms web CPU per position move (incl. its diff to 7 others)",
                        "rooms 200 × 8, BASELINE.md 2026-11-23: 0.601 cores / 434.8 moves/s"),
    "cpu_per_receive_us": (119.0, "µs web CPU for one more process to take one room event "
                           "off pub/sub (read, decode, frame once; its deliveries apart)",
                           "move_cost --servers 2 --placement both --rooms 200 --rate 533 "
                           "--rounds 2, 2026-12-04 19:24-19:32 UTC (load average ~10, 250-490 "
                           "moves/s): 0.808 ms per move spread, 0.689 with affinity (x0.85). "
                           "Below saturation each message wakes its process; a saturated "
                           "process amortises that (the 500 x 8 profile puts the pub/sub read "
                           "and decode near 16-20 µs): at full load an upper bound"),
    "pg_per_move_ms": (0.63, "ms PostgreSQL CPU per move",
                       "rooms 200 × 8, BASELINE.md 2026-11-23: 0.274 cores / 434.8 moves/s "
                       "(before the write-behind: an upper bound)"),
    "redis_per_event_us": (67.0, "µs Redis CPU per room event (move, chat, reaction)",
                           "rooms 200 × 8, BASELINE.md 2026-11-23: 0.029 cores / 434.8 moves/s"),
    "redis_ops_per_event": (3.0, "Redis commands per room event",
                            "the code: one publish or move script (EVALSHA) + one SADD of the "
                            "write-behind dirty set + one pub/sub message per subscribed node"),
    "cpu_per_chat_ms": (2.0, "ms web CPU per stored chat or reaction (insert + publish)",
                        "estimate: 1.5 × a move's web CPU (a stored command: validation, "
                        "PostgreSQL insert, gate, publish), not measured on its own"),
    "pg_per_chat_ms": (1.0, "ms PostgreSQL CPU per chat or reaction insert",
                       "estimate: a one-row insert with its indexes, 1.5 × a move's share"),
    "cpu_per_rest_ms": (0.6, "ms web CPU per REST request",
                        "rest/book, BASELINE.md 2026-11-23: 0.577 cores / 965 req/s"),
    "pg_per_rest_ms": (0.44, "ms PostgreSQL CPU per REST request",
                       "rest/book, BASELINE.md 2026-11-23: 0.426 cores / 965 req/s (searches "
                       "mostly hit the cache)"),
    "idle_cpu_per_socket_us": (10.8, "µs web CPU per second per idle socket (pings)",
                               "idle C=10,000, BASELINE.md 2026-11-23: 0.108 cores at rest"),
    "kb_per_socket": (24.6, "KB web-process RSS per authenticated socket",
                      "idle C=10,000, BASELINE.md 2026-11-23"),
    "worker_per_notification_ms": (2.3, "ms worker CPU per notification delivered",
                                   "notifications at 100/s, BASELINE.md 2026-11-23: 0.233 cores"),
    "pg_per_notification_ms": (1.7, "ms PostgreSQL CPU per notification",
                               "notifications at 100/s, BASELINE.md 2026-11-23: 0.171 cores"),
    "jobs_per_event": (2.3, "arq jobs enqueued per room event (reading events, feeds, boards)",
                       "soak 1,000 readers × 1 min, 2026-12-02 02:42 UTC (load average 16): "
                       "133 MULTI/EXEC/s (arq enqueues) at 57 room events/s; a 1-minute run "
                       "holds every reader's first-move milestones, so an upper bound"),
    "worker_per_job_ms": (0.81, "ms worker CPU per job",
                          "same soak: worker 0.108 cores / 133 jobs/s"),
    "queue_ops_per_job": (12.0, "Redis commands per job on the queue instance",
                          "arq's enqueue (WATCH, EXISTS ×2, MULTI, PSETEX, ZADD, EXEC) and "
                          "its worker's poll, take, result and delete (≈ 5): the code"),
}


# The activity: name -> (default, help). Each is an option (`--moves-per-min 3`) and a field.
ACTIVITY: dict[str, tuple[Any, str]] = {
    "readers": (1_000_000, "concurrent readers"),
    "rooms": (100_000, "rooms they are in (sessions and clubs)"),
    "moves_per_min": (3.0, "position moves per reader per minute"),
    "chats_per_min": (0.2, "chats per reader per minute"),
    "reactions_per_min": (0.2, "reactions per reader per minute"),
    "connects_per_hour": (2.0, "connects (reconnects, new tabs) per reader per hour"),
    "rest_per_min": (0.5, "REST requests per reader per minute"),
    "notifications_per_min": (0.05, "notifications per reader per minute"),
    "headroom": (2.0, "provision this many times the computed cores"),
    "core_per_process": (1.0, "cores one web process uses (one Python event loop: 1)"),
    "process_memory_gb": (2.0, "memory given to each web process"),
    "process_base_mb": (150.0, "a web process's RSS before any socket"),
    "sockets_per_process_max": (50_000, "a deliberate cap (descriptors, kernel buffers)"),
    "shard_ops_per_s": (100_000.0, "commands/s one Valkey primary takes comfortably"),
    "shard_core": (1.0, "cores of one shard (Valkey executes commands on one thread)"),
    "pg_pool_per_process": (20, "READALONG_DB_POOL_SIZE of each web process"),
    "worker_processes_pool": (10, "PostgreSQL pool of each worker process"),
    "flush_interval_s": (0.1, "READALONG_POSITIONS_FLUSH_INTERVAL (write-behind)"),
    "nodes_per_room": (None, "processes a room's readers sit on (default: random placement)"),
    "room_affinity": (False, "a room's readers are routed to one web process"),
}


def _field_type(default: Any) -> Any:
    return float | None if default is None else type(default)


Activity = make_dataclass("Activity", [(name, _field_type(d), field(default=d))
                                       for name, (d, _) in ACTIVITY.items()])


@dataclass
class Model:
    costs: dict[str, float]
    act: Any  # an Activity
    lines: list[str] = field(default_factory=list)

    def line(self, text: str) -> None:
        self.lines.append(text)

    def solve(self) -> dict[str, Any]:
        c, a = self.costs, self.act
        per_room = a.readers / a.rooms
        others = max(0.0, per_room - 1)
        moves = a.readers * a.moves_per_min / 60
        chats = a.readers * a.chats_per_min / 60
        reacts = a.readers * a.reactions_per_min / 60
        connects = a.readers * a.connects_per_hour / 3600
        rest = a.readers * a.rest_per_min / 60
        notes = a.readers * a.notifications_per_min / 60
        self.line(f"{a.readers:,} readers in {a.rooms:,} rooms = {per_room:g} readers per room")
        self.line(f"rates: moves {moves:,.0f}/s, chats {chats:,.0f}/s, reactions {reacts:,.0f}/s,"
                  f" connects {connects:,.0f}/s, REST {rest:,.0f}/s, notifications "
                  f"{notes:,.0f}/s")
        # --- web CPU -------------------------------------------------------------------------
        self.line("web CPU:")
        receive = c["cpu_per_receive_us"] / 1e6
        # the rooms scenario's move ran on MEASURED_NODES processes, each taking the event
        move_own = max(0.0, c["cpu_per_move_ms"] / 1000 - 7 * c["cpu_per_delivery_us"] / 1e6
                       - MEASURED_NODES * receive)
        deliveries = (moves + chats + reacts) * others
        events = moves + chats + reacts
        # processes holding a room's readers: one with room affinity, else (placed at random)
        # the expected distinct ones among per_room over the processes a first pass needs
        # without this term and without headroom (fewer than deployed: a lower bound on the
        # spread, and the processes stay proportional to the headroom)
        first = self._first_pass(move_own, deliveries, chats + reacts, connects, rest)
        nodes = self._nodes(first, per_room)
        terms = [
            ("move (own work, its 7 measured deliveries and 2 receives taken out)", move_own,
             moves),
            (f"receive of every room event by each of the {nodes:.2f} processes holding its "
             "readers", receive, events * nodes),
            ("delivery of every room event to the others", c["cpu_per_delivery_us"] / 1e6,
             deliveries),
            ("chat", c["cpu_per_chat_ms"] / 1000, chats),
            ("reaction", c["cpu_per_chat_ms"] / 1000, reacts),
            ("connect", c["cpu_per_connect_ms"] / 1000, connects),
            ("REST request", c["cpu_per_rest_ms"] / 1000, rest),
            ("idle socket (pings, timers)", c["idle_cpu_per_socket_us"] / 1e6, a.readers),
        ]
        web_cores = self._sum(terms)
        self.line(f"  web cores needed = {web_cores:,.1f}; × headroom {a.headroom:g} = "
                  f"{web_cores * a.headroom:,.1f}")
        by_cpu = math.ceil(web_cores * a.headroom / a.core_per_process)
        per_proc_mem = (a.process_memory_gb * 1024 - a.process_base_mb) * 1024 / c["kb_per_socket"]
        per_proc = min(per_proc_mem, a.sockets_per_process_max)
        by_mem = math.ceil(a.readers / per_proc)
        web = max(by_cpu, by_mem)
        self.line(f"  memory: ({a.process_memory_gb:g} GB − {a.process_base_mb:g} MB base) / "
                  f"{c['kb_per_socket']:g} KB = {per_proc_mem:,.0f} sockets per process; cap "
                  f"{a.sockets_per_process_max:,} → {per_proc:,.0f}; {a.readers:,} / "
                  f"{per_proc:,.0f} = {by_mem} processes")
        self.line(f"  web processes = max(CPU {by_cpu}, memory {by_mem}) = {web} "
                  f"({a.readers / web:,.0f} sockets each, "
                  f"{a.readers * c['kb_per_socket'] / 2**20:,.1f} GB of socket state in all)")
        # --- Redis ---------------------------------------------------------------------------
        self.line("Redis / Valkey cluster:")
        nodes = self._nodes(web, per_room)
        ops = events * (c["redis_ops_per_event"] - 1 + nodes) + connects * 4 + notes * 2
        self.line(f"  a room's readers sit on {nodes:.2f} processes on average "
                  f"({'room affinity' if a.room_affinity else 'random placement'}): each event "
                  f"is one pub/sub message per such process")
        self.line(f"  ops = events {events:,.0f}/s × ({c['redis_ops_per_event']:g} − 1 + "
                  f"{nodes:.2f}) + connects {connects:,.0f}/s × 4 + notifications "
                  f"{notes:,.0f}/s × 2 = {ops:,.0f} ops/s")
        per_op = c["redis_per_event_us"] / (c["redis_ops_per_event"] - 1 + MEASURED_NODES)
        redis_cores = ops * per_op / 1e6
        self.line(f"  CPU per op = {c['redis_per_event_us']:g} µs per event / "
                  f"({c['redis_ops_per_event']:g} − 1 + {MEASURED_NODES} processes measured) = "
                  f"{per_op:.3g} µs; {ops:,.0f} ops/s × {per_op:.3g} µs = {redis_cores:,.1f} cores")
        by_ops = math.ceil(ops * a.headroom / a.shard_ops_per_s)
        by_rcpu = math.ceil(redis_cores * a.headroom / a.shard_core)
        shards = max(1, by_ops, by_rcpu)
        self.line(f"  shards = max(ops {ops:,.0f} × {a.headroom:g} / {a.shard_ops_per_s:,.0f} "
                  f"= {by_ops}, CPU {redis_cores:,.1f} × {a.headroom:g} / {a.shard_core:g} = "
                  f"{by_rcpu}) = {shards} primaries (+ one replica each for failover)")
        # --- PostgreSQL ----------------------------------------------------------------------
        self.line("PostgreSQL:")
        flushes = web / a.flush_interval_s
        writes = chats + reacts + min(moves, a.readers / a.flush_interval_s) + notes
        self.line(f"  rows written/s = chats {chats:,.0f} + reactions {reacts:,.0f} + positions "
                  f"{moves:,.0f} (written behind, one row per moving reader per flush) + "
                  f"notifications {notes:,.0f} = {writes:,.0f}/s, in {chats + reacts + notes:,.0f}"
                  f" single-row + {flushes:,.0f} batched write-behind transactions/s")
        pg_terms = [
            ("move (write-behind share)", c["pg_per_move_ms"] / 1000, moves),
            ("chat insert", c["pg_per_chat_ms"] / 1000, chats),
            ("reaction insert", c["pg_per_chat_ms"] / 1000, reacts),
            ("REST request", c["pg_per_rest_ms"] / 1000, rest),
            ("notification", c["pg_per_notification_ms"] / 1000, notes),
        ]
        pg_cores = self._sum(pg_terms, indent="  ")
        self.line(f"  PostgreSQL cores = {pg_cores:,.1f}; × headroom {a.headroom:g} = "
                  f"{pg_cores * a.headroom:,.1f}")
        self.line("workers and the job queue (arq, on the one READALONG_QUEUE_URL instance):")
        jobs = events * c["jobs_per_event"]
        worker_terms = [("notification delivered", c["worker_per_notification_ms"] / 1000, notes),
                        ("job from a room event", c["worker_per_job_ms"] / 1000, jobs)]
        worker_cores = self._sum(worker_terms)
        workers = max(1, math.ceil(worker_cores * a.headroom / a.core_per_process))
        self.line(f"  worker cores = {worker_cores:,.1f} × {a.headroom:g} → {workers} worker "
                  "process(es)")
        queue_ops = (jobs + notes) * c["queue_ops_per_job"]
        queues = math.ceil(queue_ops * a.headroom / a.shard_ops_per_s)
        self.line(f"  queue ops = (jobs {jobs:,.0f}/s + notifications {notes:,.0f}/s) × "
                  f"{c['queue_ops_per_job']:g} = {queue_ops:,.0f}/s; × {a.headroom:g} / "
                  f"{a.shard_ops_per_s:,.0f} = {queues} instance(s)"
                  + (" — MORE THAN ONE: arq's queue cannot be sharded, so the jobs must be "
                     "split over several queues (by kind or by room) or coalesced"
                     if queues > 1 else ""))
        conns = web * a.pg_pool_per_process + workers * a.worker_processes_pool
        self.line(f"  connections = web {web} × pool {a.pg_pool_per_process} + workers "
                  f"{workers} × {a.worker_processes_pool} = {conns:,}"
                  + (" (more than one PostgreSQL takes well: put PgBouncer in transaction mode "
                     "in front, or shrink the pools)" if conns > 500 else ""))
        return {"web_processes": web, "web_cores": round(web_cores, 2),
                "web_processes_by_cpu": by_cpu, "web_processes_by_memory": by_mem,
                "redis_shards": shards, "redis_ops_per_s": round(ops),
                "redis_cores": round(redis_cores, 2), "pg_cores": round(pg_cores, 2),
                "pg_rows_per_s": round(writes), "pg_transactions_per_s": round(
                    chats + reacts + notes + flushes),
                "pg_connections": conns, "workers": workers, "jobs_per_s": round(jobs),
                "queue_ops_per_s": round(queue_ops), "queue_instances": queues,
                "deliveries_per_s": round(
                    deliveries), "events_per_s": round(events)}

    def _nodes(self, web: int, per_room: float) -> float:
        """Processes one room's readers sit on: 1 with room affinity, else the expected
        distinct ones among `per_room` readers placed at random over `web` processes."""
        a = self.act
        if a.room_affinity:
            return 1.0
        if a.nodes_per_room is not None:
            return float(a.nodes_per_room)
        return web * (1 - (1 - 1 / web) ** per_room) if web > 1 else 1.0

    def _first_pass(self, move_own: float, deliveries: float, stored: float, connects: float,
                    rest: float) -> int:
        """The web processes without the receive term and the headroom (to place the rooms'
        readers on)."""
        c, a = self.costs, self.act
        moves = a.readers * a.moves_per_min / 60
        cores = (move_own * moves + c["cpu_per_delivery_us"] / 1e6 * deliveries
                 + c["cpu_per_chat_ms"] / 1000 * stored
                 + c["cpu_per_connect_ms"] / 1000 * connects + c["cpu_per_rest_ms"] / 1000 * rest
                 + c["idle_cpu_per_socket_us"] / 1e6 * a.readers)
        return max(1, math.ceil(cores / a.core_per_process))

    def _sum(self, terms: list[tuple[str, float, float]], indent: str = "  ") -> float:
        total = 0.0
        for label, cost, rate in terms:
            cores = cost * rate
            total += cores
            self.line(f"{indent}{label}: {_fmt_cost(cost)} × {rate:,.0f}/s = {cores:,.2f} cores")
        return total


def _fmt_cost(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


# --- measured figures from the reports ----------------------------------------------------------

def _reports(results: Path, scenario: str) -> list[tuple[Path, dict[str, Any]]]:
    """The scenario's readable report JSONs, newest first."""
    out = []
    for path in sorted(results.glob(f"*-{scenario}.json"), reverse=True):
        try:
            out.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return out


def _newest(results: Path, scenario: str) -> tuple[Path, dict[str, Any]] | None:
    found = _reports(results, scenario)
    return found[0] if found else None


def _summary(report: dict[str, Any], title_start: str) -> dict[str, float]:
    """The medians of the first ok section whose title starts so: this tree's own (a run with
    `--<scenario>-against` adds a "(servers of …)" section after it)."""
    for section in report.get("sections", []):
        if section.get("status", "ok") == "ok" and section.get("title", "").startswith(
                title_start) and "(servers of " not in section.get("title", ""):
            return {k: v["median"] for k, v in section.get("summary", {}).items()}
    return {}


Extractor = Callable[[dict[str, Any]], dict[str, float]]


def _from_fanout(rep: dict[str, Any]) -> dict[str, float]:
    s = _summary(rep, "fanout/readalong")
    if s.get("ref_delivered_per_s") and s.get("ref_servers_cpu_util"):
        return {"cpu_per_delivery_us": s["ref_servers_cpu_util"] / s["ref_delivered_per_s"] * 1e6}
    return {}


def _from_connect(rep: dict[str, Any]) -> dict[str, float]:
    """The web processes' own CPU per connect (auth, subscribes, presence, history), measured
    with the clients on the other core: what the model's line means."""
    s = _summary(rep, "connect C=")
    if s.get("server_cpu_ms_per_connect"):
        return {"cpu_per_connect_ms": s["server_cpu_ms_per_connect"]}
    return {}


def _from_idle(rep: dict[str, Any]) -> dict[str, float]:
    sections = [x for x in rep.get("sections", []) if x.get("title", "").startswith("idle C=")
                and x.get("status", "ok") == "ok"]
    if not sections:
        return {}
    big = max(sections, key=lambda x: x["summary"].get("connections", {}).get("median", 0))
    s = {k: v["median"] for k, v in big["summary"].items()}
    out = {}
    if s.get("kb_per_connection"):
        out["kb_per_socket"] = s["kb_per_connection"]
    if s.get("connect_rate_per_s"):  # the whole core's time: taken only without a connect report
        out["cpu_per_connect_ms"] = 1000 / s["connect_rate_per_s"]
    if s.get("held") and "rest_servers_cpu_util" in s:
        out["idle_cpu_per_socket_us"] = s["rest_servers_cpu_util"] / s["held"] * 1e6
    return out


def _from_rooms(rep: dict[str, Any]) -> dict[str, float]:
    s = _summary(rep, "rooms:")
    if rep.get("params", {}).get("rooms", {}).get("chats_only"):
        # `--rooms-chats-only`: its send window, less what the same sockets use at rest (their
        # pings are the model's idle term); older reports metered the whole run (an upper bound)
        out = {}
        for cost, group in (("cpu_per_chat_ms", "servers"), ("pg_per_chat_ms", "postgres")):
            got = s.get(f"{group}_net_cpu_ms_per_chat") or s.get(f"{group}_cpu_ms_per_chat")
            if got:
                out[cost] = got
        return out
    moves = s.get("moves_per_s")
    if not moves:
        return {}
    out = {"cpu_per_move_ms": s.get("servers_cpu_util", 0) / moves * 1000}
    if "postgres_cpu_util" in s:
        out["pg_per_move_ms"] = s["postgres_cpu_util"] / moves * 1000
    if "redis_cpu_util" in s:
        out["redis_per_event_us"] = s["redis_cpu_util"] / moves * 1e6
    return out


def _from_soak(rep: dict[str, Any]) -> dict[str, float]:
    """Jobs per room event and worker CPU per job, from the mixed workload that makes them."""
    s = _summary(rep, "soak:")
    events = sum(s.get(k, 0) for k in ("moves_per_s", "chats_per_s", "reactions_per_s"))
    # the worker's own count; older reports only had MULTI/EXEC/s, which also counts feed
    # rebuilds and arq's own steps (an upper bound)
    jobs = s.get("worker_jobs_per_s") or s.get("redis_exec_per_s", 0)
    if not (events and jobs):
        return {}
    out = {"jobs_per_event": jobs / events}
    if s.get("worker_cpu_util"):
        out["worker_per_job_ms"] = s["worker_cpu_util"] / jobs * 1000
    return out


# In this order: a cost the first scenario measures is not taken from a later one (the connect
# scenario's CPU per connect before the idle scenario's core time per connect).
EXTRACTORS: dict[str, Extractor] = {"fanout": _from_fanout, "connect": _from_connect,
                                    "idle": _from_idle, "rooms": _from_rooms,
                                    "soak": _from_soak}


def measured_costs(results: Path = RESULTS, use_reports: bool = True
                   ) -> tuple[dict[str, float], dict[str, str]]:
    """The costs and where each came from: each from the newest report of the first scenario
    that measures it, else its default."""
    costs = {k: v[0] for k, v in DEFAULTS.items()}
    sources = {k: v[2] for k, v in DEFAULTS.items()}
    if not use_reports:
        return costs, sources
    taken: set[str] = set()
    for scenario, extract in EXTRACTORS.items():
        found_here: set[str] = set()
        for path, rep in _reports(results, scenario):  # newest first
            for k, v in extract(rep).items():
                if v > 0 and k not in taken and k not in found_here:
                    costs[k] = round(v, 4)
                    sources[k] = f"{path.name} (started {rep.get('started')} UTC)"
                    found_here.add(k)
        taken |= found_here
    return costs, sources


def soak_check(results: Path, act: Any) -> list[str]:
    """The newest soak's measured cores, scaled linearly to `act.readers`: a cross-check of the
    model at the soak's own activity (not at `act`'s unless they match)."""
    found = _newest(results, "soak")
    if found is None:
        return ["soak cross-check: no soak report in load/results/ (python -m load soak)"]
    path, rep = found
    s = _summary(rep, "soak:")
    soak = rep.get("params", {}).get("soak", {})
    joined = s.get("joined", 0)
    if not joined:
        return [f"soak cross-check: {path.name} has no figures"]
    scale = act.readers / joined
    per = soak.get("per_reader_per_min") or {
        k: soak[k] for k in ("moves", "chats", "reactions", "notifications", "rest") if k in soak}
    out = [f"soak cross-check ({path.name}, started {rep.get('started')} UTC, load average "
           f"{rep.get('machine', {}).get('load_average_at_start')}): {joined:,.0f} readers at "
           + ", ".join(f"{k} {v:g}" for k, v in per.items()) + " per reader per minute:"]
    for label, key in (("web", "servers_cpu_util"), ("worker", "worker_cpu_util"),
                       ("Redis", "redis_cpu_util"), ("PostgreSQL", "postgres_cpu_util")):
        if key in s:
            out.append(f"  {label}: {s[key]:.3g} cores × {scale:,.0f} = {s[key] * scale:,.1f} "
                       f"cores for {act.readers:,} readers")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    for name, (default, text) in ACTIVITY.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true", help=text)
        else:
            p.add_argument(flag, type=type(default) if default is not None else float,
                           default=default, help=text)
    p.add_argument("--defaults-only", action="store_true",
                   help="ignore load/results/ and use the documented defaults")
    p.add_argument("--results", type=Path, default=RESULTS)
    for name, (_, unit, _) in DEFAULTS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=None, help=unit)
    p.add_argument("--json", action="store_true", help="print the answer as JSON too")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m load capacity", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    costs, sources = measured_costs(args.results, not args.defaults_only)
    for name in DEFAULTS:
        given = getattr(args, name)
        if given is not None:
            costs[name], sources[name] = given, "given on the command line"
    act = Activity(**{name: getattr(args, name) for name in ACTIVITY})
    model = Model(costs, act)
    answer = model.solve()
    print("inputs (per-operation costs):")
    for name, (_, unit, _) in DEFAULTS.items():
        print(f"  {name} = {costs[name]:g} {unit} — {sources[name]}")
    print("\nthe model:")
    print("\n".join(model.lines))
    print(f"\nanswer for {act.readers:,} readers in {act.rooms:,} rooms (headroom "
          f"{act.headroom:g}×): {answer['web_processes']} web processes, "
          f"{answer['redis_shards']} Redis/Valkey primaries, PostgreSQL "
          f"{answer['pg_cores'] * act.headroom:,.1f} cores for {answer['pg_rows_per_s']:,} rows/s "
          f"({answer['pg_transactions_per_s']:,} transactions/s) and "
          f"{answer['pg_connections']:,} connections, {answer['workers']} worker(s), job queue "
          f"{answer['queue_ops_per_s']:,} ops/s ({answer['queue_instances']} instance(s) worth)")
    if not args.defaults_only:
        print("\n" + "\n".join(soak_check(args.results, act)))
    if args.json:
        print(json.dumps({"costs": costs, "sources": sources, "activity": vars(act),
                          "answer": answer}, indent=2))
    return 0
