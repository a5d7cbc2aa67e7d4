"""The soak's verdict: issue 17's four criteria, each reported, the run failing if any is missed.

1. REST p95 under 200 ms, with every request that was due counted: one that failed or was
   never answered by the end counts as slower than any answer (so a stalled server cannot
   pass by answering few requests), and a run with no REST answer at all fails.
2. No socket dropped: every reader joined, and every one still connected at the end.
3. Nothing lost: every acked chat reached every other reader of its room, every stored
   notification reached its reader's socket, every notify() stored one, and every command was
   acked (a move or chat never acked within the client's time-out is lost to its reader).
4. Memory flat over the last half of the run (the last 5 minutes of a 10-minute soak) for
   every process sampled: its private memory, Redis's dataset, and PostgreSQL's shared memory
   within its segment (soak_memory.py says why shared pages are held to their bound).
"""

from __future__ import annotations

import math
from typing import Any

from load.stats import percentile

REST_P95_MS = 200.0


def p95_with_misses(latencies_s: list[float], misses: int) -> float:
    """p95 in ms of the answers plus `misses` requests that never got one (infinitely slow)."""
    values = sorted(latencies_s) + [math.inf] * max(0, misses)
    if not values:
        return math.inf
    return percentile(values, 95) * 1000.0


def notification_losses(stored: list[tuple[int, int]], seen: set[int],
                        closed: set[int]) -> tuple[int, int]:
    """Stored notifications (seq, recipient) never seen: (to a reader still connected at the
    end, to a reader whose socket was closed or never opened). A loss to a connected reader is
    the server's; one to a closed socket follows from a drop (counted by criterion 2)."""
    missing = [uid for seq, uid in stored if seq not in seen]
    to_closed = sum(1 for uid in missing if uid in closed)
    return len(missing) - to_closed, to_closed


def criteria(fig: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(criterion, met, the figures behind it) for each of the four criteria."""
    p95 = fig.get("rest_p95_all_ms", math.inf)
    misses = fig.get("rest_failures", 0) + fig.get("rest_unanswered", 0)
    rest_ok = p95 < REST_P95_MS and fig.get("rest_samples", 0) > 0
    shown = "∞" if math.isinf(p95) else f"{p95:,.0f}"
    rest = (f"REST p95 {shown} ms (criterion < {REST_P95_MS:g}) over "
            f"{fig.get('rest_samples', 0):,} answers + {misses:,} failed or unanswered")
    dropped = fig.get("sockets_dropped", 0)
    unjoined = fig.get("readers", 0) - fig.get("joined", 0)
    sockets_ok = dropped == 0 and unjoined == 0
    sockets = f"{dropped:,} sockets dropped, {unjoined:,} readers never joined (criterion 0)"
    lost = {"chat deliveries": fig.get("chats_lost", 0),
            "notifications": fig.get("notifications_lost", 0),
            "notify() calls not stored": fig.get("notifications_not_stored", 0),
            "commands never acked": fig.get("command_errors", 0),
            "chats sent, not acked": max(0, fig.get("chats_sent", 0) - fig.get("chats_acked", 0))}
    lost_ok = not any(lost.values())
    lost_text = ", ".join(f"{v:,} {k}" for k, v in lost.items())
    if lost["notifications"] and "notifications_lost_closed" in fig:
        lost_text += (f" (notifications: {fig.get('notifications_lost_connected', 0):,} to"
                      f" connected readers, {fig['notifications_lost_closed']:,} to closed"
                      " sockets)")
    lost_text += (
        f" (of {fig.get('chat_deliveries_expected', 0):,} chat deliveries and "
        f"{fig.get('notifications_stored', 0):,} notifications checked)")
    flat = fig.get("memory_flat", 0) == 1
    growing = fig.get("memory_growing", "")
    memory = ("every process's private memory and Redis's dataset flat over the last half"
              if flat else f"growing: {growing}")
    if "postgres_shared_bound_mb" in fig:
        memory += (f"; PostgreSQL's shared memory {fig.get('postgres_shared_mb_end', 0):.0f} MB"
                   f" of its {fig['postgres_shared_bound_mb']:.0f}-MB segment")
    return [("REST p95 < 200 ms", rest_ok, rest), ("no socket dropped", sockets_ok, sockets),
            ("nothing lost", lost_ok, lost_text), ("memory flat", flat, memory)]


def verdict(fig: dict[str, Any]) -> tuple[int, list[str]]:
    """(1 when all four criteria are met, else 0; one PASS/FAIL line per criterion)."""
    rows = criteria(fig)
    lines = [f"{'PASS' if ok else 'FAIL'} {name}: {text}" for name, ok, text in rows]
    return int(all(ok for _, ok, _ in rows)), lines
