"""Web-Annotation-style selectors: the passage an annotation anchors to, checked."""

from __future__ import annotations

from typing import Any

from domain.discussion.schemas import (
    MAX_QUOTE_CHARS,
    LocatorSelector,
    ProgressionSelector,
    TextQuoteSelector,
)
from domain.discussion.spoilers import check_progression
from domain.errors import Invalid


def check_selectors(selectors: list[Any]) -> tuple[float, float, str | None, str | None]:
    """(range start, range end, quote, locator) from W3C-style selectors, or Invalid."""
    if not selectors:
        raise Invalid("an annotation needs selectors (a progression range at least)",
                      code="empty_selectors", field="selectors")
    rng = [s for s in selectors if isinstance(s, ProgressionSelector)]
    quotes = [s for s in selectors if isinstance(s, TextQuoteSelector)]
    locs = [s for s in selectors if isinstance(s, LocatorSelector)]
    if len(rng) != 1:
        raise Invalid("exactly one ProgressionSelector is needed", code="empty_selectors",
                      field="selectors")
    start = check_progression(rng[0].start, "selectors.start")
    end = check_progression(rng[0].end, "selectors.end")
    if start > end:
        raise Invalid("the range must not end before it starts", code="invalid_position",
                      field="selectors")
    quote = None
    if quotes:
        q = quotes[0]
        if not q.exact.strip():
            raise Invalid("a TextQuoteSelector needs the exact text", code="empty_selectors",
                          field="selectors.exact")
        if len(q.exact) + len(q.prefix) + len(q.suffix) > MAX_QUOTE_CHARS:
            raise Invalid("the quoted text is too long", code="quote_too_long",
                          field="selectors.exact")
        quote = q.exact
    locator = None
    if locs:
        if not locs[0].value or len(locs[0].value) > 512:
            raise Invalid("a LocatorSelector needs a value of at most 512 characters",
                          code="empty_selectors", field="selectors.value")
        locator = locs[0].value
    return start, end, quote, locator
