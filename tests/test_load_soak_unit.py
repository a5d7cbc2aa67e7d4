"""The soak's pure parts: CPU series, saturation onset, drop counts, memory and the verdict."""

from __future__ import annotations

import math
import os

import pytest

from load.scenarios import soak_memory, soak_series, soak_verdict


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


def _ramp(start: float, per_min: float, minutes: int = 10) -> list[tuple[float, float]]:
    return [(t * 10.0, start + per_min * t / 6) for t in range(minutes * 6 + 1)]


def test_shared_buffers_filling_within_their_segment_is_not_growth() -> None:
    """PostgreSQL's shared pages rising toward its segment while its private memory is flat:
    flat, with the segment stated; the same rise past the segment, or private memory rising,
    is growth and names the part."""
    flat = _ramp(60.0, 0.0)
    filling = _ramp(100.0, 3.0)  # 100 -> 130 MB, a 143-MB segment
    parts = {"postgres": {"private": flat, "shared": filling, "file": flat}}
    fig, notes = soak_memory.memory_figures({"postgres": _ramp(220.0, 3.0)}, parts, {}, 143.0)
    assert fig["memory_flat"] == 1 and fig["postgres_rss_flat"] == 0
    assert fig["postgres_shared_within_bound"] == 1 and "143-MB segment" in notes[0]
    over, _ = soak_memory.memory_figures({"postgres": flat}, parts, {}, 120.0)
    assert over["memory_flat"] == 0 and "shared over its segment" in over["memory_growing"]
    leak = {"postgres": {"private": _ramp(60.0, 1.0), "shared": flat, "file": flat}}
    grew, _ = soak_memory.memory_figures({"postgres": flat}, leak, {}, 143.0)
    assert grew["memory_growing"] == "postgres (private)"


def test_redis_dataset_growth_and_unsplit_totals_are_judged() -> None:
    """Redis's used_memory rising fails the criterion even when its RSS does not; a process
    sampled without the split is judged on its total, as before."""
    fig, _ = soak_memory.memory_figures({"web0": _ramp(180.0, 0.0)}, {},
                                        {"redis_used": _ramp(20.0, 2.9)})
    assert fig["memory_growing"] == "redis_used"
    fig, _ = soak_memory.memory_figures({"web0": _ramp(180.0, 0.5)})
    assert fig["memory_growing"] == "web0"


def test_this_process_memory_splits_into_private_and_file_backed() -> None:
    """/proc/<pid>/smaps_rollup of this process: it has private (heap) and file-backed
    (interpreter, libraries) pages, and none of a gone process."""
    parts = soak_series.memory_parts(os.getpid())
    assert parts["private"] > 1 and parts["file"] > 1 and parts["shared"] >= 0
    assert soak_series.memory_parts(2**22 + 12345) == {}
