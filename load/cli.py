"""The benchmark command line: pick scenarios, start the stack, run, report, always clean up."""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import signal
import sys
import time
from types import FrameType, ModuleType
from typing import Any

from load import report as reports
from load.measure import machine, versions
from load.procs import raise_nofile
from load.stack import Pinning, Stack, pg_options
from load.stats import aggregate

SCENARIOS = ["rest", "fanout", "idle", "connect", "rooms", "recovery", "notifications", "feed",
             "leaderboards", "imports", "clubs", "catalog_import", "metrics_scrape",
             "kosync", "audio", "soak"]
ALL = SCENARIOS  # `all` runs each with its modest defaults (pending ones report as pending)


class BenchTimeout(RuntimeError):
    """The whole run went past --max-minutes."""


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"load.scenarios.{name}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m load", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scenario", choices=[*SCENARIOS, "all"], help="what to run")
    p.add_argument("--repeats", "-r", type=int, default=None,
                   help="runs per figure (median, min, max); default per scenario")
    p.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    p.add_argument("--pin", default="auto",
                   help="CPU pinning: auto (first half of the CPUs for servers, Redis and "
                        "PostgreSQL, the rest for clients), off, or SERVERS:CLIENTS like 0:1")
    p.add_argument("--client-procs", type=int, default=None,
                   help="load-client processes (default: number of client CPUs)")
    p.add_argument("--max-minutes", type=float, default=30.0,
                   help="hard bound on the whole run; everything is stopped past it")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy the server processes during the fanout reference step, the "
                        "rooms run, the connect burst and the recovery storm (the surviving "
                        "process); top frames go in the notes, raw stacks in load/results/")
    p.add_argument("--no-write", action="store_true", help="print only, write no report")
    p.add_argument("--write-baseline", action="store_true",
                   help="also write the Markdown summary to load/results/BASELINE.md (commit it)")
    p.add_argument("-v", "--verbose", action="store_true")
    for name in SCENARIOS:
        mod = _module(name)
        group = p.add_argument_group(name, mod.TITLE)
        mod.add_arguments(group)
    return p


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the run went past --max-minutes; stopping everything")


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def explicit_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests of the options the user wrote on the command line."""
    given = set()
    for action in parser._actions:
        for opt in action.option_strings:
            if any(a == opt or a.startswith(opt + "=") for a in argv):
                given.add(action.dest)
    return given


def run(args: argparse.Namespace, argv: list[str]) -> int:
    names = ALL if args.scenario == "all" else [args.scenario]
    pinning = Pinning(args.pin)
    if args.client_procs is None:
        args.client_procs = max(1, len(pinning.clients or [0]))
    nofile = raise_nofile()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    box = machine()  # before we start anything: the load average says if the machine was quiet
    t0 = time.monotonic()
    sections: list[dict[str, Any]] = []
    params: dict[str, Any] = {"client_procs": args.client_procs, "nofile": nofile,
                              "quick": args.quick, "pg_options": pg_options()}
    with Stack(pinning, keep=args.keep) as stack:
        for name in names:
            mod = _module(name)
            if args.quick:
                kept = {d: getattr(args, d) for d in args.explicit}
                mod.quick(args)
                for d, v in kept.items():  # what the user wrote wins over --quick's sizes
                    setattr(args, d, v)
            elif args.scenario == "all":
                for dest, value in getattr(mod, "ALL_SIZES", {}).items():
                    if dest not in args.explicit:
                        setattr(args, dest, value)
            repeats = args.repeats or (1 if args.quick else mod.DEFAULT_REPEATS)
            if args.scenario == "all" and not args.repeats and not args.quick:
                repeats = getattr(mod, "ALL_REPEATS", repeats)
            print(f"--- {name}: {mod.TITLE}", flush=True)
            try:
                produced = mod.run(stack, args, repeats)
            except (KeyboardInterrupt, SystemExit, BenchTimeout):
                raise
            except Exception as exc:
                logging.getLogger("load").exception("scenario %s failed", name)
                produced = [{"title": mod.TITLE, "status": "pending",
                             "reason": f"failed: {type(exc).__name__}: {str(exc)[:400]}"}]
            for section in produced:
                section.setdefault("status", "ok")
                section.setdefault("notes", [])
                section.setdefault("headline", [])
                if section["status"] == "ok":
                    section["summary"] = aggregate(section["runs"])
                sections.append(section)
                print(reports.table({"sections": [section]}), flush=True)
            params[name] = mod.params(args)
        engine_versions = versions(
            stack.engines.redis.binary if stack.engines else None,
            stack.engines.postgres.bin if stack.engines else None)
    report = {"scenario": args.scenario, "command": "python -m load " + shlex.join(argv),
              "started": started, "duration_s": time.monotonic() - t0, "machine": box,
              "versions": engine_versions, "pinning": pinning.describe(), "params": params,
              "repeats": args.repeats or ("1 (quick)" if args.quick else "per scenario"),
              "sections": sections}
    print("\n=========== summary ===========")
    print(reports.table(report))
    if not args.no_write:
        json_path, md_path = reports.write(report)
        print(f"\nreport: {json_path}\nsummary: {md_path}")
        if args.write_baseline:
            base = reports.RESULTS / "BASELINE.md"
            base.write_text(reports.BASELINE_HEADER + md_path.read_text())
            print(f"baseline: {base} (commit it)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own = {"recs-eval": "ai_eval", "ai-bench": "ai_bench", "search-100k": "ai_search100k"}
    if argv[:1] == ["capacity"]:  # the capacity model: no servers, its own options
        from load import capacity

        return capacity.main(argv[1:])
    if argv[:1] and argv[0] in own:  # AI and search scenarios with their own options
        name = own[argv[0]]
        return int(_module(name).main(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.explicit = explicit_options(parser, argv)
    try:
        pg_options()  # a malformed LOAD_PG_OPTIONS stops here, before anything starts
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.alarm(max(1, int(args.max_minutes * 60)))
    try:
        return run(args, argv)
    except BenchTimeout as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("load: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
