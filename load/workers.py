"""Load-client processes (multiprocessing, spawn): each runs an asyncio agent driven over a pipe.

An agent is a class whose async methods are commands; the parent calls `pool.call("method",
kwargs)` on every worker (or `pool.call_one(i, ...)`) and gets each worker's return value. Every
call has a timeout; a worker that dies or hangs fails the run instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing as mp
import os
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from load.procs import die_with_parent, pin, raise_nofile, same_gc_as_servers


class WorkerFailed(RuntimeError):
    """A client process raised, died or did not answer in time."""


def _entry(conn: Connection, agent_path: str, index: int, init: dict[str, Any],
           cpus: list[int] | None) -> None:
    die_with_parent()
    raise_nofile()
    same_gc_as_servers()
    if cpus:
        pin(os.getpid(), cpus)
    module, _, name = agent_path.partition(":")
    cls = getattr(importlib.import_module(module), name)

    async def main() -> None:
        agent = cls(index, **init)
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        def reader() -> None:  # a blocking reader thread keeps the pipe in blocking mode
            while True:
                try:
                    item = conn.recv()
                except (EOFError, OSError):
                    item = ("__exit__", {})
                loop.call_soon_threadsafe(inbox.put_nowait, item)
                if item[0] == "__exit__":
                    return

        threading.Thread(target=reader, name="pipe-reader", daemon=True).start()
        while True:
            method, kwargs = await inbox.get()
            if method == "__exit__":
                await _safe_close(agent)
                with contextlib.suppress(OSError):
                    conn.send(("ok", None))
                return
            t_cpu, t_wall = time.process_time(), time.monotonic()
            try:
                result = await getattr(agent, method)(**kwargs)
                reply: tuple[str, Any] = ("ok", result)
            except Exception:
                reply = ("error", traceback.format_exc())
            if isinstance(reply[1], dict):
                reply[1].setdefault("_cpu_s", time.process_time() - t_cpu)
                reply[1].setdefault("_wall_s", time.monotonic() - t_wall)
            conn.send(reply)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


async def _safe_close(agent: Any) -> None:
    close = getattr(agent, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(close(), 30)


class Pool:
    """N client processes running the same agent class (`module:Class`)."""

    def __init__(self, agent_path: str, n: int, init: dict[str, Any] | None = None,
                 per_worker: list[dict[str, Any]] | None = None,
                 cpus: list[int] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[mp.process.BaseProcess] = []
        for i in range(n):
            parent, child = ctx.Pipe()
            kwargs = dict(init or {})
            if per_worker:
                kwargs.update(per_worker[i])
            p = ctx.Process(target=_entry, args=(child, agent_path, i, kwargs, cpus),
                            name=f"load-client-{i}", daemon=True)
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None and p.is_alive()]

    def send(self, method: str, kwargs: dict[str, Any] | None = None,
             only: list[int] | None = None) -> list[int]:
        targets = only if only is not None else list(range(len(self.conns)))
        for i in targets:
            self.conns[i].send((method, kwargs or {}))
        return targets

    def gather(self, targets: list[int], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        out: list[Any] = []
        for i in targets:
            conn, proc = self.conns[i], self.procs[i]
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerFailed(f"client process {i} did not answer within {timeout:.0f}s")
                if conn.poll(min(left, 0.5)):
                    try:
                        status, value = conn.recv()
                    except EOFError as exc:
                        raise WorkerFailed(f"client process {i} died") from exc
                    if status != "ok":
                        raise WorkerFailed(f"client process {i} failed:\n{value}")
                    out.append(value)
                    break
                if not proc.is_alive():
                    raise WorkerFailed(f"client process {i} exited with {proc.exitcode}")
        return out

    def call(self, method: str, kwargs: dict[str, Any] | None = None, timeout: float = 60.0,
             only: list[int] | None = None) -> list[Any]:
        return self.gather(self.send(method, kwargs, only), timeout)

    def close(self, timeout: float = 30.0) -> None:
        for i, conn in enumerate(self.conns):
            if self.procs[i].is_alive():
                with contextlib.suppress(OSError, BrokenPipeError):
                    conn.send(("__exit__", {}))
        deadline = time.monotonic() + timeout
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(3)
            if p.is_alive():
                p.kill()
                p.join(3)
        for conn in self.conns:
            conn.close()
