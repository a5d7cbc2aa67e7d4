"""The soak's pure parts: its CPU time series, saturation onset, drop counts and the verdict."""

from __future__ import annotations

import math
import os

import pytest

from load.scenarios import soak_series, soak_verdict


def test_cumulative_cpu_becomes_cores_per_interval() -> None:
    cores = soak_series.utilisation([(0.0, 10.0), (2.0, 11.0), (4.0, 13.0), (6.0, 1.0)])
    # 1 s of CPU in 2 s is half a core; a counter that went back (a restart) counts as zero
    assert cores == [(2.0, 0.5), (4.0, 1.0), (6.0, 0.0)]


def test_onset_is_the_first_sustained_stretch_and_names_who_led() -> None:
    web = [(2.0, 0.3), (4.0, 0.95), (6.0, 0.5), (8.0, 0.7), (10.0, 0.8)]
    pg = [(2.0, 0.1), (4.0, 0.0), (6.0, 0.3), (8.0, 0.25), (10.0, 0.2)]
    hot = soak_series.onset({"web": web, "postgres": pg}, capacity=1.0)
    # 4 s alone is one interval over 0.9 (not sustained); 8 s starts two in a row
    assert hot is not None
    assert hot["t"] == 8.0
    assert hot["top"] == "web"
    assert math.isclose(hot["total"], 0.95)


def test_no_onset_when_the_server_side_has_room() -> None:
    assert soak_series.onset({"web": [(2.0, 0.5), (4.0, 0.6)]}, capacity=1.0) is None
    assert soak_series.onset({"web": [(2.0, 1.5), (4.0, 1.6)]}, capacity=2.0) is None


def test_sockets_dropped_by_each_time() -> None:
    assert soak_series.cumulative([3.0, 3.0, 9.5], [0.0, 3.0, 9.0, 10.0]) == [
        (0.0, 0), (3.0, 2), (9.0, 2), (10.0, 3)]


def test_this_process_cpu_is_read_from_proc() -> None:
    before = soak_series.proc_cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    assert soak_series.proc_cpu_seconds(os.getpid()) >= before > 0
    assert soak_series.tree_cpu_seconds(os.getpid()) >= before
    assert soak_series.proc_cpu_seconds(2**22 + 7) == 0.0  # gone: zero, not an error


def _passing() -> dict[str, object]:
    return {"readers": 100, "joined": 100, "sockets_dropped": 0, "rest_samples": 500,
            "rest_p95_all_ms": 120.0, "rest_failures": 0, "rest_unanswered": 0,
            "chats_lost": 0, "notifications_lost": 0, "notifications_not_stored": 0,
            "command_errors": 0, "chats_sent": 40, "chats_acked": 40,
            "chat_deliveries_expected": 280, "notifications_stored": 50, "memory_flat": 1}


def test_a_run_meeting_all_four_criteria_passes() -> None:
    met, lines = soak_verdict.verdict(_passing())
    assert met == 1
    assert [line.split(":")[0] for line in lines] == [
        "PASS REST p95 < 200 ms", "PASS no socket dropped", "PASS nothing lost",
        "PASS memory flat"]


def test_each_criterion_missed_fails_the_run_and_says_which() -> None:
    misses = {"REST p95": {"rest_p95_all_ms": 250.0}, "socket": {"sockets_dropped": 3},
              "never joined": {"joined": 97}, "lost": {"notifications_lost": 1},
              "not stored": {"notifications_not_stored": 2}, "acked": {"command_errors": 5},
              "chats": {"chats_acked": 39}, "memory": {"memory_flat": 0,
                                                       "memory_growing": "redis"}}
    for name, change in misses.items():
        met, lines = soak_verdict.verdict({**_passing(), **change})
        assert met == 0, name
        assert sum(line.startswith("FAIL") for line in lines) == 1, name


def test_a_stalled_server_cannot_pass_rest_by_answering_few() -> None:
    met, _ = soak_verdict.verdict({**_passing(), "rest_samples": 0,
                                   "rest_p95_all_ms": math.inf})
    assert met == 0
    # 90 fast answers and 10 that never came: the p95 is a miss, not a fast answer
    assert soak_verdict.p95_with_misses([0.05] * 90, 10) == math.inf
    assert soak_verdict.p95_with_misses([0.05] * 99, 1) == 50.0


def test_lost_notifications_split_by_whether_the_reader_was_connected() -> None:
    # seqs 1-5 stored for readers 10 (still connected) and 20 (its socket closed); 1 and 4 seen
    stored = [(1, 10), (2, 10), (3, 20), (4, 20), (5, 20)]
    assert soak_verdict.notification_losses(stored, {1, 4}, {20}) == (1, 2)
    assert soak_verdict.notification_losses(stored, {1, 2, 3, 4, 5}, {20}) == (0, 0)
    met, lines = soak_verdict.verdict({**_passing(), "notifications_lost": 3,
                                       "notifications_lost_connected": 1,
                                       "notifications_lost_closed": 2})
    assert met == 0
    assert "1 to connected readers, 2 to closed sockets" in lines[2]


def test_load_pg_options_add_to_and_override_the_benchmark_settings() -> None:
    from load.stack import FAST_PG, pg_options

    assert pg_options({}) == FAST_PG
    got = pg_options({"LOAD_PG_OPTIONS": " shared_buffers=512MB  max_connections=600 "})
    assert got == {**FAST_PG, "shared_buffers": "512MB", "max_connections": "600"}
    for bad in ("shared_buffers", "work_mem=", "=1", "bad-name=1"):
        with pytest.raises(ValueError, match="LOAD_PG_OPTIONS"):
            pg_options({"LOAD_PG_OPTIONS": bad})
