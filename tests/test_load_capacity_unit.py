"""The capacity model's arithmetic and the soak's memory-flatness judge (pure, no servers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from load.capacity import DEFAULTS, Activity, Model, main, measured_costs
from load.scenarios.common import flatness


def _costs(**over: float) -> dict[str, float]:
    costs = {k: v[0] for k, v in DEFAULTS.items()}
    costs.update(over)
    return costs


def _quiet() -> Activity:
    """An activity with every rate at zero but the idle sockets."""
    return Activity(readers=100_000, rooms=10_000, moves_per_min=0, chats_per_min=0,
                    reactions_per_min=0, connects_per_hour=0, rest_per_min=0,
                    notifications_per_min=0, headroom=1.0)


def test_web_cores_are_cost_times_rate_summed() -> None:
    """Each web-CPU line is its cost × its rate, and the web cores are their sum."""
    act = Activity(readers=60_000, rooms=6_000, moves_per_min=1, chats_per_min=0,
                   reactions_per_min=0, connects_per_hour=0, rest_per_min=6,
                   notifications_per_min=0, headroom=1.0)
    costs = _costs(cpu_per_move_ms=1.0, cpu_per_delivery_us=10.0, cpu_per_rest_ms=0.5,
                   idle_cpu_per_socket_us=0.0, cpu_per_receive_us=0.0)
    out = Model(costs, act).solve()
    moves, rest = 1_000.0, 6_000.0  # per second
    own = 1.0e-3 - 7 * 10e-6
    expected = moves * own + moves * 9 * 10e-6 + rest * 0.5e-3
    assert out["web_cores"] == pytest.approx(expected, abs=0.01)
    assert out["deliveries_per_s"] == 9_000
    assert out["web_processes_by_cpu"] == math.ceil(expected)


def test_headroom_multiplies_the_processes() -> None:
    """Doubling the headroom doubles the CPU-bound process count (to the next whole one)."""
    act = Activity(headroom=1.0)
    one = Model(_costs(), act).solve()
    act2 = Activity(headroom=2.0)
    two = Model(_costs(), act2).solve()
    assert two["web_processes_by_cpu"] == math.ceil(one["web_cores"] * 2)
    assert one["web_processes_by_cpu"] == math.ceil(one["web_cores"])


def test_memory_bounds_the_processes_when_the_sockets_are_idle() -> None:
    """With no activity, the processes come from memory: sockets / (usable MB / KB per socket)."""
    act = _quiet()
    act.process_memory_gb, act.process_base_mb = 1.0, 24.0
    act.sockets_per_process_max = 10**9
    out = Model(_costs(kb_per_socket=10.0, idle_cpu_per_socket_us=0.0), act).solve()
    per_proc = (1024 - 24) * 1024 / 10.0  # 102,400 sockets
    assert out["web_processes_by_memory"] == math.ceil(100_000 / per_proc) == 1
    act.sockets_per_process_max = 30_000
    assert Model(_costs(kb_per_socket=10.0), act).solve()["web_processes_by_memory"] == 4


def test_room_affinity_cuts_the_pubsub_messages() -> None:
    """Routing a room to one process sends each event to one node instead of many."""
    act = Activity(headroom=1.0)
    spread = Model(_costs(), act).solve()
    act.room_affinity = True
    pinned = Model(_costs(), act).solve()
    events = 1_000_000 * (3.0 + 0.2 + 0.2) / 60
    assert spread["events_per_s"] == round(events)
    assert pinned["redis_ops_per_s"] < spread["redis_ops_per_s"]
    # (ops per event − 1 + 1 node) per event + connects × 4 + notifications × 2
    connects = 1_000_000 * 2.0 / 3600
    notes = 1_000_000 * 0.05 / 60
    assert pinned["redis_ops_per_s"] == round(events * 3.0 + connects * 4 + notes * 2)


def test_shards_follow_the_larger_of_ops_and_cpu() -> None:
    """The shard count is the larger of the ops bound and the CPU bound, at least one."""
    act = Activity(headroom=1.0, shard_ops_per_s=1e12)
    out = Model(_costs(), act).solve()
    assert out["redis_shards"] == max(1, math.ceil(out["redis_cores"]))
    act.shard_ops_per_s = 1_000.0
    out = Model(_costs(redis_per_event_us=0.0), act).solve()
    assert out["redis_shards"] == math.ceil(out["redis_ops_per_s"] / 1_000.0)


def test_postgres_rows_and_connections() -> None:
    """PostgreSQL rows are chats + reactions + moves + notifications; connections are pools."""
    act = Activity(readers=60_000, rooms=6_000, moves_per_min=2, chats_per_min=1,
                   reactions_per_min=1, connects_per_hour=0, rest_per_min=0,
                   notifications_per_min=1, headroom=1.0, pg_pool_per_process=5,
                   worker_processes_pool=3)
    out = Model(_costs(), act).solve()
    assert out["pg_rows_per_s"] == 1_000 + 1_000 + 2_000 + 1_000
    assert out["pg_connections"] == out["web_processes"] * 5 + out["workers"] * 3


def test_every_line_shows_its_arithmetic() -> None:
    """The printed model names each cost, rate and result (figure × rate = cores)."""
    model = Model(_costs(), Activity())
    model.solve()
    text = "\n".join(model.lines)
    assert "× 50,000/s = " in text and "cores" in text
    assert "shards = max(" in text and "web processes = max(" in text


def test_reports_override_defaults_and_say_so(tmp_path: Path) -> None:
    """The newest fanout report's CPU per delivery replaces the default, named by its file."""
    rep = {"started": "2026-12-02 01:00:00", "sections": [{
        "title": "fanout/readalong: 2 processes", "status": "ok",
        "summary": {"ref_delivered_per_s": {"median": 20_000.0},
                    "ref_servers_cpu_util": {"median": 0.2}}}]}
    (tmp_path / "20261202-010000-fanout.json").write_text(json.dumps(rep))
    (tmp_path / "20261201-010000-fanout.json").write_text("{not json")
    costs, sources = measured_costs(tmp_path)
    assert costs["cpu_per_delivery_us"] == pytest.approx(10.0)
    assert "20261202-010000-fanout.json" in sources["cpu_per_delivery_us"]
    assert costs["kb_per_socket"] == DEFAULTS["kb_per_socket"][0]
    assert sources["kb_per_socket"] == DEFAULTS["kb_per_socket"][2]


def test_command_line_prints_the_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    """`python -m load capacity` prints its inputs with sources and a one-line answer."""
    assert main(["--results", str(tmp_path), "--readers", "1000000", "--rooms", "100000",
                 "--headroom", "1.5", "--kb-per-socket", "20"]) == 0
    out = capsys.readouterr().out
    assert "kb_per_socket = 20 KB" in out and "given on the command line" in out
    assert "answer for 1,000,000 readers in 100,000 rooms (headroom 1.5×)" in out


def test_flatness_tells_growth_from_noise() -> None:
    """A wobbling series is flat; a steady climb beyond the wobble is not."""
    wobble = [(t * 10.0, 200.0 + (1.5 if t % 2 else -1.5)) for t in range(60)]
    assert flatness(wobble)["flat"] == 1
    climb = [(t * 10.0, 200.0 + t * 0.5) for t in range(60)]
    judged = flatness(climb)
    assert judged["flat"] == 0
    assert judged["growth_mb"] == pytest.approx(0.5 * 29, abs=0.6)
    assert judged["slope_mb_per_min"] == pytest.approx(3.0, abs=0.01)
    assert flatness([(0.0, 1.0)])["flat"] == 1


def test_job_queue_is_sized_and_flagged_when_one_instance_is_not_enough() -> None:
    """Jobs are room events × jobs per event; past one instance's ops the model says so."""
    act = Activity(readers=60_000, rooms=6_000, moves_per_min=1, chats_per_min=0,
                   reactions_per_min=0, connects_per_hour=0, rest_per_min=0,
                   notifications_per_min=0, headroom=1.0, shard_ops_per_s=10_000.0)
    model = Model(_costs(jobs_per_event=2.0, queue_ops_per_job=10.0), act)
    out = model.solve()
    assert out["jobs_per_s"] == 2_000
    assert out["queue_ops_per_s"] == 20_000 and out["queue_instances"] == 2
    assert any("cannot be sharded" in line for line in model.lines)


def _report(started: str, title: str, summary: dict[str, float],
            params: dict[str, object] | None = None) -> str:
    return json.dumps({"started": started, "params": params or {}, "sections": [
        {"title": title, "status": "ok",
         "summary": {k: {"median": v} for k, v in summary.items()}}]})


def test_each_cost_comes_from_the_newest_report_that_measures_it(tmp_path: Path) -> None:
    """A chats-only rooms run gives the chat costs and leaves the moves to the newest moving run;
    the connect scenario's CPU per connect wins over the idle scenario's core time; the soak
    gives the jobs per room event."""
    (tmp_path / "20261203-100000-rooms.json").write_text(_report(
        "2026-12-03 10:00:00", "rooms: 1000 x 8 readers",
        {"moves_per_s": 2000.0, "servers_cpu_util": 0.8, "postgres_cpu_util": 0.1,
         "redis_cpu_util": 0.05}, {"rooms": {"chats_only": False}}))
    (tmp_path / "20261203-110000-rooms.json").write_text(_report(
        "2026-12-03 11:00:00", "rooms: 100 x 8 readers",
        {"moves_per_s": 27.0, "servers_cpu_util": 0.3, "servers_cpu_ms_per_chat": 1.25,
         "postgres_cpu_ms_per_chat": 0.5}, {"rooms": {"chats_only": True}}))
    (tmp_path / "20261203-120000-connect.json").write_text(json.dumps({
        "started": "2026-12-03 12:00:00", "sections": [
            {"title": "connect C=5000", "status": "ok",
             "summary": {"server_cpu_ms_per_connect": {"median": 0.7}}},
            {"title": "connect C=5000 (servers of abc123)", "status": "ok",
             "summary": {"server_cpu_ms_per_connect": {"median": 9.0}}}]}))
    (tmp_path / "20261203-130000-idle.json").write_text(_report(
        "2026-12-03 13:00:00", "idle C=19000",
        {"connections": 19000.0, "kb_per_connection": 13.5, "connect_rate_per_s": 400.0}))
    (tmp_path / "20261203-140000-soak.json").write_text(_report(
        "2026-12-03 14:00:00", "soak: 10000 readers, 10 min",
        {"moves_per_s": 500.0, "chats_per_s": 30.0, "reactions_per_s": 70.0,
         "redis_exec_per_s": 300.0, "worker_cpu_util": 0.15}))
    costs, sources = measured_costs(tmp_path)
    assert costs["cpu_per_move_ms"] == pytest.approx(0.4)
    assert "20261203-100000-rooms.json" in sources["cpu_per_move_ms"]
    assert costs["cpu_per_chat_ms"] == pytest.approx(1.25)
    assert costs["pg_per_chat_ms"] == pytest.approx(0.5)
    assert "20261203-110000-rooms.json" in sources["cpu_per_chat_ms"]
    assert costs["cpu_per_connect_ms"] == pytest.approx(0.7)
    assert "connect" in sources["cpu_per_connect_ms"]
    assert costs["kb_per_socket"] == pytest.approx(13.5)
    assert costs["jobs_per_event"] == pytest.approx(0.5)
    assert costs["worker_per_job_ms"] == pytest.approx(0.5)
    (tmp_path / "20261203-150000-soak.json").write_text(_report(
        "2026-12-03 15:00:00", "soak: 10000 readers, 10 min",
        {"moves_per_s": 500.0, "chats_per_s": 30.0, "reactions_per_s": 70.0,
         "redis_exec_per_s": 300.0, "worker_jobs_per_s": 6.0, "worker_cpu_util": 0.15}))
    costs, _ = measured_costs(tmp_path)  # the worker's own count wins over MULTI/EXEC
    assert costs["jobs_per_event"] == pytest.approx(0.01)
    assert costs["worker_per_job_ms"] == pytest.approx(25.0)


def test_a_chats_only_run_gives_its_chat_cost_net_of_the_sockets_at_rest(tmp_path: Path) -> None:
    """The chats-only run's per-chat figure with the same sockets' rest taken out (their pings
    are the model's idle term) is the chat cost, not the send window's gross one."""
    (tmp_path / "20261204-100000-rooms.json").write_text(_report(
        "2026-12-04 10:00:00", "rooms: 200 x 8 readers",
        {"servers_cpu_ms_per_chat": 2.0, "servers_net_cpu_ms_per_chat": 0.9,
         "postgres_cpu_ms_per_chat": 0.5, "postgres_net_cpu_ms_per_chat": 0.4},
        {"rooms": {"chats_only": True}}))
    costs, sources = measured_costs(tmp_path)
    assert costs["cpu_per_chat_ms"] == pytest.approx(0.9)
    assert costs["pg_per_chat_ms"] == pytest.approx(0.4)
    assert "20261204-100000-rooms.json" in sources["cpu_per_chat_ms"]


def test_room_affinity_saves_each_further_process_its_receive() -> None:
    """With a room's readers on one process, each room event is taken off pub/sub once, not
    once per process holding its readers: the web cores differ by that many receives."""
    act = Activity(readers=100_000, rooms=10_000, moves_per_min=3, chats_per_min=0,
                   reactions_per_min=0, connects_per_hour=0, rest_per_min=0,
                   notifications_per_min=0, headroom=1.0, nodes_per_room=4.0)
    costs = _costs(cpu_per_receive_us=50.0)
    spread = Model(costs, act).solve()
    act.room_affinity = True
    pinned = Model(costs, act).solve()
    events = 100_000 * 3 / 60
    assert spread["web_cores"] - pinned["web_cores"] == pytest.approx(events * 3 * 50e-6,
                                                                      abs=1e-6)
