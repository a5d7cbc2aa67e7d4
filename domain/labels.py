"""User-typed labels (shelf names, favourite genres): white space folded, each checked for
length, duplicates dropped by a folded key (the first spelling wins)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from domain.errors import Invalid


def distinct_labels(values: Iterable[str], max_len: int, fold: Callable[[str], str],
                    error: Callable[[], Invalid]) -> list[str]:
    """Trim and collapse spaces; `error()` is raised for an empty or over-long label;
    labels equal under `fold` count once."""
    seen: dict[str, str] = {}
    for raw in values:
        value = " ".join(raw.split())
        if not value or len(value) > max_len:
            raise error()
        seen.setdefault(fold(value), value)
    return list(seen.values())
