"""Who may see a reader's reading states, log, goals and stats.

The rule: they follow the reader's profile visibility, decided by `domain.social.rules` (the one
place that answers "may A see B"): public profile → everyone, followers-only → accepted
followers, private → nobody; blocks hide both ways; staff see what the profile rule lets them.
On top of that, a state marked `private` (and its log) is seen by its reader only — not by
followers, not by staff. The reader always sees everything of their own.
"""

from __future__ import annotations

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.social import profiles, rules


class ReaderView:
    """Whose reading life is being read, and whether the viewer also sees private books."""

    __slots__ = ("include_private", "owner_id")

    def __init__(self, owner_id: int, include_private: bool) -> None:
        self.owner_id = owner_id
        self.include_private = include_private


def may_see_state(viewer_id: int | None, owner_id: int, *, private: bool,
                  profile_visible: bool) -> bool:
    """The pure rule for one state: its reader always; others when the profile is visible to
    them and the state is not private."""
    if viewer_id is not None and viewer_id == owner_id:
        return True
    return profile_visible and not private


async def reader_view(db: Database, viewer: Principal | None, handle: str) -> ReaderView:
    """Resolve `handle` for `viewer`: 404 when unknown or hidden (private profile, blocked),
    403 `profile_followers_only` for a followers-only profile the viewer does not follow."""
    owner_id = await profiles.user_id_by_handle(db, handle)
    viewer_id = viewer.user_id if viewer is not None else None
    if viewer_id == owner_id:
        return ReaderView(owner_id, include_private=True)
    visibility = await db.pool.fetchval("SELECT visibility FROM users WHERE id = $1", owner_id)
    if visibility is None:
        raise profiles.not_found()
    rel = await rules.relation(db, viewer_id, owner_id)
    profiles.ensure_visible(viewer, str(visibility), rel)
    return ReaderView(owner_id, include_private=False)
