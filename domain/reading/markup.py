"""The review body's small, safe Markdown subset, rendered on the server (no raw HTML ever).

Supported: paragraphs (blank line), line breaks, `**bold**`, `*italic*` / `_italic_`,
`` `code` ``, `[text](https://…)` links (http and https only; anything else stays plain text),
and inline spoiler spans `||hidden text||`. Everything the reader typed is HTML-escaped first,
so `<script>`, event-handler attributes and `javascript:` links come out as inert text. Spoiler
spans do not nest: each `||` toggles a span on or off, and an unmatched final `||` is text.
The rendering has two variants: full (spans as `<span class="spoiler">…</span>`) and redacted
(each span's content replaced by `[spoiler]`).
"""

from __future__ import annotations

import html
import re

import msgspec

from domain.errors import Invalid

BODY_MAX = 20_000
REDACTED_SPAN = '<span class="spoiler redacted">[spoiler]</span>'

_LINK = re.compile(r"\[([^\[\]\n]{1,300})\]\((https?://[^\s()<>]{1,2000})\)", re.IGNORECASE)
_CODE = re.compile(r"`([^`\n]{1,500})`")
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]{1,2000}?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])([*_])(?=\S)([^*_\n]{1,2000}?)(?<=\S)\1(?![\w*])")


class Rendered(msgspec.Struct, frozen=True):
    html: str
    redacted_html: str
    has_spoilers: bool


def check_body(body: str) -> str:
    value = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > BODY_MAX:
        raise Invalid(f"a review is at most {BODY_MAX} characters", code="review_too_long",
                      field="body")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise Invalid("the review contains control characters", code="invalid_body",
                      field="body")
    return value


def _inline(text: str) -> str:
    """Escape one span of plain text, then apply the inline rules (each yields balanced tags)."""
    out = html.escape(text, quote=True)
    kept: list[str] = []  # code and links are final: no emphasis inside them

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    out = _CODE.sub(lambda m: keep(f"<code>{m[1]}</code>"), out)
    out = _LINK.sub(lambda m: keep(f'<a href="{m[2]}" rel="nofollow ugc noopener">{m[1]}</a>'),
                    out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _ITALIC.sub(r"<em>\2</em>", out)
    out = re.sub("\x00(\\d+)\x00", lambda m: kept[int(m[1])], out)
    return out.replace("\n", "<br>")


def _segments(paragraph: str) -> list[tuple[str, bool]]:
    """(text, is_spoiler) pieces; `||` toggles, an unmatched last `||` is literal."""
    parts = paragraph.split("||")
    if len(parts) % 2 == 0:  # odd number of markers: the last one is text
        parts = [*parts[:-2], parts[-2] + "||" + parts[-1]]
    return [(part, i % 2 == 1) for i, part in enumerate(parts) if part]


def render(body: str) -> Rendered:
    """Both variants of a review body, and whether it has spoiler spans."""
    full: list[str] = []
    redacted: list[str] = []
    spoilers = False
    for paragraph in re.split(r"\n\s*\n", body):
        if not paragraph.strip():
            continue
        f: list[str] = []
        r: list[str] = []
        for text, is_spoiler in _segments(paragraph.strip()):
            rendered = _inline(text)
            if is_spoiler:
                spoilers = True
                f.append(f'<span class="spoiler">{rendered}</span>')
                r.append(REDACTED_SPAN)
            else:
                f.append(rendered)
                r.append(rendered)
        full.append("<p>" + "".join(f) + "</p>")
        redacted.append("<p>" + "".join(r) + "</p>")
    return Rendered(html="".join(full), redacted_html="".join(redacted), has_spoilers=spoilers)
