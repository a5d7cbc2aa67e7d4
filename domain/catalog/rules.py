"""Catalog field rules: titles, languages, dates, URLs, authors, subjects, tables of contents."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from domain.catalog.schemas import ChapterIn
from domain.errors import Invalid

_WORDS = re.compile(r"[^\W_]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_PUBLISHED = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)


def words(text: str) -> list[str]:
    """Lower-case letter/digit runs of `text`: the unit of search terms and title keys."""
    return _WORDS.findall(text.lower())


def title_key(title: str) -> str:
    """A title reduced to its words, for exact-title matching ("The Hobbit!" -> "the hobbit")."""
    return " ".join(words(title))


def clean_text(value: str | None, field: str, *, required: bool = False) -> str | None:
    """Strip surrounding whitespace; an empty required text is an error, an empty optional None."""
    if value is None:
        if required:
            raise Invalid(f"{field} is required", field=field)
        return None
    value = value.strip()
    if not value:
        if required:
            raise Invalid(f"{field} must not be blank", field=field)
        return None
    return value


def normalise_language(code: str, field: str = "language") -> str:
    """A BCP-47-style tag: 'EN-gb' -> 'en-GB', 'zh-hant-tw' -> 'zh-Hant-TW'."""
    code = code.strip().replace("_", "-")
    if not _LANGUAGE.fullmatch(code) or not code.isascii():
        raise Invalid(f"{code!r} is not a language tag like 'en' or 'pt-BR'",
                      code="invalid_language", field=field)
    parts = code.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def parse_published(value: str | None, field: str = "published") -> tuple[str | None, int | None]:
    """'1813', '1813-01' or '1813-01-28' -> (the same text, the year); None -> (None, None)."""
    if value is None or not value.strip():
        return None, None
    text = value.strip()
    m = _PUBLISHED.fullmatch(text)
    if not m:
        raise Invalid("published is a year, year-month or date: YYYY, YYYY-MM or YYYY-MM-DD",
                      code="invalid_date", field=field)
    year, month, day = int(m[1]), m[2], m[3]
    if year < 1 or year > dt.date.today().year + 5:
        raise Invalid(f"published year {year} is out of range", code="invalid_date", field=field)
    try:
        dt.date(year, int(month or 1), int(day or 1))
    except ValueError as exc:
        raise Invalid(f"published {text!r} is not a real date", code="invalid_date",
                      field=field) from exc
    return text, year


def check_url(value: str | None, field: str = "cover_url") -> str | None:
    value = clean_text(value, field)
    if value is None:
        return None
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
        raise Invalid("cover_url must be an absolute http(s) URL", code="invalid_url", field=field)
    return value


def clean_names(values: Sequence[str], field: str) -> list[str]:
    """Strip each name; blank or repeated (case-insensitively) names name their index."""
    seen: set[str] = set()
    out: list[str] = []
    for i, raw in enumerate(values):
        name = " ".join(raw.split())
        if not name:
            raise Invalid(f"{field}[{i}] must not be blank", field=f"{field}[{i}]")
        if name.lower() in seen:
            raise Invalid(f"{name!r} is listed twice", code="duplicate", field=f"{field}[{i}]")
        seen.add(name.lower())
        out.append(name)
    return out


def check_toc(chapters: Sequence[ChapterIn], field: str = "toc") -> list[tuple[str, float]]:
    """Validate a table of contents: first start 0, starts strictly increasing and below 1."""
    out: list[tuple[str, float]] = []
    previous = -1.0
    for i, chapter in enumerate(chapters):
        title = chapter.title.strip()
        if not title:
            raise Invalid(f"chapter {i} has a blank title", field=f"{field}[{i}].title")
        start = chapter.start
        if not (0.0 <= start < 1.0):  # also refuses NaN
            raise Invalid(f"chapter {i} starts at {start}: starts lie in [0, 1)",
                          code="invalid_toc", field=f"{field}[{i}].start")
        if i == 0 and start != 0.0:
            raise Invalid("the first chapter starts at 0", code="invalid_toc",
                          field=f"{field}[0].start")
        if start <= previous:
            raise Invalid(f"chapter {i} starts at {start}, not after chapter {i - 1} "
                          f"({previous}): starts must strictly increase",
                          code="invalid_toc", field=f"{field}[{i}].start")
        previous = start
        out.append((title, start))
    return out
