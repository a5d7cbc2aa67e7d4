"""The spoiler shield's rules, now `domain.discussion.shield` (kept importable from here)."""

from domain.discussion.shield import (
    ViewerState,
    check_progression,
    for_viewer,
    is_hidden,
    is_shielded,
    redact_annotation,
    redact_message,
    redact_reaction,
)

__all__ = [  # re-exported (defined in domain.discussion)
    "ViewerState", "check_progression", "for_viewer", "is_hidden", "is_shielded",
    "redact_annotation", "redact_message", "redact_reaction"
]
