"""The spoiler shield's rules, now `domain.discussion.spoilers` (kept importable from here)."""

from domain.discussion.schemas import AnnotationOut, MessageOut, ReactionOut
from domain.discussion.spoilers import (
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
    "AnnotationOut", "MessageOut", "ReactionOut", "ViewerState", "check_progression",
    "for_viewer", "is_hidden", "is_shielded", "redact_annotation", "redact_message",
    "redact_reaction",
]
