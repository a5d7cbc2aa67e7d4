"""Tables, rules and use-cases (no server/, realtime/ or jobs/ imports)."""

import sys

# httpx imports its command-line client (click, rich, pygments: ~90 ms of every process start)
# unless that import fails; nothing here runs it, so it is marked absent.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
