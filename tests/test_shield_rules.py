"""The shield's spec as pure rules (no server): gates, variants and the audience bound."""

from __future__ import annotations

import pytest

from domain.discussion.spoilers import (
    FULL,
    REDACTED,
    SKIP,
    annotation_gate,
    edit_gate,
    reaches_beyond_place,
    reaction_gate,
    variant,
)


def test_gates_are_never_below_what_the_author_has_read() -> None:
    """An edit, a reaction and a note are gated at least at the author's furthest progression."""
    assert edit_gate(0.05, 0.9) == 0.9 and edit_gate(0.7, 0.2) == 0.7
    assert reaction_gate(0.2, 0.6) == 0.6 and reaction_gate(0.8, 0.1) == 0.8
    assert annotation_gate(0.15, 0.6, "progress") == 0.6
    assert annotation_gate(0.15, None, "progress") == 0.15


def test_the_author_may_lower_a_note_to_its_passage_but_a_reply_never_below_its_parent() -> None:
    """`gate_at="passage"` gates at the passage's end; a reply stays at its parent's gate."""
    assert annotation_gate(0.15, 0.9, "passage") == 0.15
    assert annotation_gate(0.15, 0.3, "passage", parent_gate=0.6) == 0.6
    assert annotation_gate(0.15, 0.9, "progress", parent_gate=0.6) == 0.9


@pytest.mark.parametrize(("progress", "shield", "author", "hidden", "gate", "expect"), [
    (0.3, True, 9, frozenset(), 0.6, REDACTED),
    (0.6, True, 9, frozenset(), 0.6, FULL),
    (0.3, False, 9, frozenset(), 0.6, FULL),
    (0.0, True, 5, frozenset(), 0.6, FULL),       # the viewer's own item
    (0.9, True, 9, frozenset({9}), 0.6, SKIP),    # blocked or muted author
    (0.3, True, 9, frozenset(), None, FULL),      # nothing gated (a deletion notice)
])
def test_one_variant_rule(progress: float, shield: bool, author: int, hidden: frozenset[int],
                          gate: float | None, expect: int) -> None:
    """Hidden authors are skipped; behind the gate with the shield on is redacted; else full."""
    assert variant(viewer_id=5, progress=progress, shield=shield, hidden_authors=hidden,
                   author_id=author, gate=gate) == expect


@pytest.mark.parametrize(("item", "place", "beyond"), [
    ("public", "public", True), ("public", "invite", False), ("public", "followers", False),
    ("session", "public", False), ("private", "public", False)])
def test_an_item_never_reaches_wider_than_its_place(item: str, place: str, beyond: bool) -> None:
    """Only a public item of a public place reaches strangers, anonymous callers and feeds."""
    assert reaches_beyond_place(item, place) is beyond  # type: ignore[arg-type]
