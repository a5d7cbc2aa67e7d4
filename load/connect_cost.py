"""Server CPU per connect, this tree against another commit in the same run:
`python -m load.connect_cost [--against COMMIT] [--clients 2000] [--rounds 3]`.

The connect scenario's set-up (bearer auth, subscribe `user:<id>`, subscribe the shared room:
`load/scenarios/connect.py`) without the bare-websockets runs: each round starts one server of
each tree in turn on fresh Redis and opens --clients sockets against it, metered on the server
process alone (user and system CPU apart, /proc) and counting Redis commands (INFO
commandstats). The trees alternate round by round, so both see the same machine. The figures
are the medians over the rounds, their ratio and the median of the rounds' own ratios.

On a busy machine this is still noisy (on 2 shared cores, 2,000 sockets a round, the same
tree's rounds differed by up to 40 %): the CPU per connect also falls as the rate rises, since
the set-up's Redis batches grow with it, and the rate follows the other processes' load. Read
it with the rates it prints; quiet, it is the cheap A/B of the connect path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from load import against
from load.profile import Profiler
from load.scenarios.connect import AGENT
from load.scenarios.idle import SHARED_ROOM
from load.stack import Pinning, Stack
from load.users import ensure_users, tokens

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def _redis_commands(stack: Stack) -> int:
    return sum(n for name, n in stack.redis_calls().items() if name != "info")


def _round(stack: Stack, root: Any, users: list[int], toks: list[str],
           concurrency: int, profile: bool = False) -> dict[str, float]:
    stack.flush_redis()
    srv = stack.start_servers(1, root=root)[0]
    pool = stack.pool(AGENT, 1)
    try:
        assert srv.pid
        pool.call("connect", {"urls": [srv.ws_url], "users": users[:2], "toks": toks[:2],
                              "shared": SHARED_ROOM, "concurrency": 2, "offset": 0}, timeout=60)
        time.sleep(1.0)
        n = len(toks) - 2
        u0, s0 = _cpu(srv.pid)
        r0 = _redis_commands(stack)
        spy = Profiler([srv.pid], None, "connect").start() if profile else None
        t0 = time.monotonic()
        got = pool.call("connect", {"urls": [srv.ws_url], "users": users[2:], "toks": toks[2:],
                                    "shared": SHARED_ROOM, "concurrency": concurrency,
                                    "offset": 2}, timeout=900)[0]
        wall = time.monotonic() - t0
        u1, s1 = _cpu(srv.pid)
        if spy is not None:  # (after the CPU reading: py-spy's own stops cost the server)
            print("\n".join(spy.finish(top=25)), flush=True)
        r1 = _redis_commands(stack)
        done = max(1, got["connected"])
        if done < n:
            print(f"   ({n - done} of {n} sockets failed)", flush=True)
        return {"user_ms": 1000 * (u1 - u0) / done, "sys_ms": 1000 * (s1 - s0) / done,
                "cpu_ms": 1000 * (u1 - u0 + s1 - s0) / done,
                "redis_commands": (r1 - r0) / done, "rate": done / max(wall, 1e-9)}
    finally:
        stack.close_pool(pool)
        stack.stop_servers()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.connect_cost", description=__doc__)
    ap.add_argument("--against", default="", help="the other commit (a `git archive` copy)")
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--pin", default="auto")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy on this tree's server over each burst (its top functions; "
                         "raw stacks in load/results/); it costs the server CPU too")
    args = ap.parse_args(argv)
    with Stack(Pinning(args.pin)) as stack:
        stack.start_engines()
        users = ensure_users(stack, args.clients + 2)
        toks = tokens(stack, users)
        variants = against.variants(stack, args.against)
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in variants}
        for r in range(args.rounds):
            for label, root in variants:
                fig = _round(stack, root, users, toks, args.concurrency,
                             args.profile and label == against.THIS_TREE)
                runs[label].append(fig)
                print(f"round {r + 1} {label}: {fig['cpu_ms']:.3f} ms CPU per connect (user "
                      f"{fig['user_ms']:.3f}, system {fig['sys_ms']:.3f}), "
                      f"{fig['redis_commands']:.2f} Redis commands, {fig['rate']:.0f} conn/s",
                      flush=True)
        med = {label: {k: statistics.median(f[k] for f in figs) for k in figs[0]}
               for label, figs in runs.items()}
        for label, m in med.items():
            print(f"median {label}: {m['cpu_ms']:.3f} ms CPU per connect (user "
                  f"{m['user_ms']:.3f}, system {m['sys_ms']:.3f}), "
                  f"{m['redis_commands']:.2f} Redis commands", flush=True)
        if args.against:
            a, b = med[args.against], med[against.THIS_TREE]
            pairs = [y["cpu_ms"] / x["cpu_ms"]
                     for x, y in zip(runs[args.against], runs[against.THIS_TREE], strict=True)]
            print(f"this tree / {args.against}: CPU per connect x{b['cpu_ms'] / a['cpu_ms']:.3f}"
                  f" (user x{b['user_ms'] / max(a['user_ms'], 1e-9):.3f}); median of the "
                  f"rounds' ratios x{statistics.median(pairs):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
