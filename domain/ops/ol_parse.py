"""Open Library dump lines (type, key, revision, last_modified, JSON; tab-separated) parsed into
authors, editions and works; a malformed line becomes a Problem, never an exception."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from domain.catalog.isbn import normalise_isbn
from domain.errors import DomainError

LANGUAGES = {"eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es",
             "ita": "it", "por": "pt", "dut": "nl", "nld": "nl", "rus": "ru", "jpn": "ja",
             "chi": "zh", "zho": "zh", "pol": "pl", "swe": "sv", "lat": "la"}
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


@dataclass
class Author:
    key: str
    name: str


@dataclass
class Edition:
    key: str
    title: str
    subtitle: str | None = None
    language: str = "en"
    isbn13: str | None = None
    isbn10: str | None = None
    pages: int | None = None
    publisher: str | None = None
    year: int | None = None
    work_key: str | None = None
    author_keys: list[str] = field(default_factory=list)
    toc: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Work:
    key: str
    description: str = ""
    author_keys: list[str] = field(default_factory=list)


@dataclass
class Problem:
    line: int
    reason: str


Record = Author | Edition | Work | Problem | None


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _isbn(values: Any) -> tuple[str | None, str | None]:
    for raw in values if isinstance(values, list) else []:
        try:
            return normalise_isbn(str(raw))
        except DomainError:
            continue
    return None, None


def _toc(entries: Any, pages: int | None) -> list[tuple[str, float]]:
    titles: list[tuple[str, int | None]] = []
    for e in entries if isinstance(entries, list) else []:
        title = _text(e.get("title") if isinstance(e, dict) else None, 300)
        if title:
            page = str(e.get("pagenum") or "")
            titles.append((title, int(page) if page.isdigit() else None))
    if not titles:
        return []
    usable = pages and all(p is not None and 0 < p <= pages for _, p in titles)
    starts = [((p or 1) - 1) / pages if usable and pages else i / len(titles)
              for i, (_, p) in enumerate(titles)]
    if any(b <= a for a, b in itertools.pairwise(starts)) or starts[0] != 0:
        starts = [i / len(titles) for i in range(len(titles))]
    return [(t, s) for (t, _), s in zip(titles, starts, strict=True)]


def _keys(refs: Any, inner: str | None = None) -> list[str]:
    out: list[str] = []
    for ref in refs if isinstance(refs, list) else []:
        if inner and isinstance(ref, dict):
            ref = ref.get(inner)
        key = ref.get("key") if isinstance(ref, dict) else None
        if isinstance(key, str) and key not in out:
            out.append(key)
    return out


def parse_line(number: int, line: str) -> Record:
    """One dump line; None for record types the catalog does not use (redirects, ...)."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != 5:
        return Problem(number, f"expected 5 tab-separated fields, got {len(parts)}")
    kind, key = parts[0], parts[1]
    try:
        data = json.loads(parts[4])
    except ValueError as exc:
        return Problem(number, f"bad JSON: {exc}")
    if not isinstance(data, dict):
        return Problem(number, "the JSON field is not an object")
    if kind == "/type/author":
        name = _text(data.get("name"), 200)
        return Author(key, name) if name else Problem(number, f"author {key} has no name")
    if kind == "/type/work":
        return Work(key, _text(data.get("description"), 20000) or "",
                    _keys(data.get("authors"), "author"))
    if kind != "/type/edition":
        return None
    title = _text(data.get("title"), 500)
    if title is None:
        return Problem(number, f"edition {key} has no title")
    isbn13, isbn10 = _isbn(data.get("isbn_13"))
    if isbn13 is None:
        isbn13, isbn10 = _isbn(data.get("isbn_10"))
    pages = data.get("number_of_pages")
    pages = pages if isinstance(pages, int) and 0 < pages < 100000 else None
    publishers = data.get("publishers")
    year = YEAR.search(str(data.get("publish_date") or ""))
    langs = _keys(data.get("languages"))
    works = _keys(data.get("works"))
    return Edition(key, title, _text(data.get("subtitle"), 500),
                   LANGUAGES.get(langs[0].rsplit("/", 1)[-1], "und") if langs else "en",
                   isbn13, isbn10, pages,
                   _text(publishers[0], 200) if isinstance(publishers, list) and publishers
                   else None, int(year.group(1)) if year else None,
                   works[0] if works else None, _keys(data.get("authors")),
                   _toc(data.get("table_of_contents"), pages))
