"""Goodreads and StoryGraph CSV exports, read into one `Entry` per row.

The format is detected from the header (exact column names, any order, a UTF-8 BOM and CRLF
allowed; quoted fields may hold newlines). Quirks handled:
- Goodreads ISBNs come as `="1250313198"` (`=""` for none); `My Rating` 0 means unrated;
  dates are `YYYY/MM/DD` (a missing day or month is the 1st); there is no start date (we keep
  it unknown rather than inventing one); `Exclusive Shelf` is the status (a custom exclusive
  shelf becomes a custom shelf on a want-to-read book), `Bookshelves` the custom shelves;
  `Read Count` n > 1 on a read book gives n reads, the last one finished on `Date Read`;
  `My Review` is HTML (see `review_markup`); `Private Notes` stay private.
- StoryGraph `Authors` is one comma-joined string; `ISBN/UID` is an ISBN or a StoryGraph id;
  `Read Status` includes `did-not-finish`; `Star Rating` is a float in quarter stars;
  `Dates Read` holds one range per read (`start-end`, comma-separated); `Owned?` is Yes/No.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date

import msgspec

from domain.catalog.isbn import normalise_isbn
from domain.errors import Invalid

GOODREADS = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13",
    "My Rating", "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published",
    "Original Publication Year", "Date Read", "Date Added", "Bookshelves",
    "Bookshelves with positions", "Exclusive Shelf", "My Review", "Spoiler", "Private Notes",
    "Read Count", "Recommended For", "Recommended By", "Owned Copies", "Original Purchase Date",
    "Original Purchase Location", "Condition", "Condition Description", "BCID",
]
STORYGRAPH = [
    "Title", "Authors", "Contributors", "ISBN/UID", "Format", "Read Status", "Date Added",
    "Last Date Read", "Dates Read", "Read Count", "Moods", "Pace", "Character- or Plot-Driven?",
    "Strong Character Development?", "Loveable Characters?", "Diverse Characters?",
    "Flawed Characters?", "Star Rating", "Review", "Content Warnings",
    "Content Warning Description", "Tags", "Owned?",
]
# the columns we read (a file may lack the others)
NEEDED = {"goodreads": ["Book Id", "Title", "Author", "ISBN", "ISBN13", "My Rating",
                        "Date Read", "Date Added", "Bookshelves", "Exclusive Shelf",
                        "My Review", "Read Count"],
          "storygraph": ["Title", "Authors", "ISBN/UID", "Read Status", "Date Added",
                         "Last Date Read", "Dates Read", "Star Rating", "Review"]}
_STATUS = {"read": "read", "currently-reading": "reading", "to-read": "want_to_read",
           "did-not-finish": "did_not_finish", "want to read": "want_to_read",
           "currently reading": "reading", "already read": "read"}
_DATE = re.compile(r"(\d{4})[/-](\d{1,2})(?:[/-](\d{1,2}))?")


class Read(msgspec.Struct, frozen=True):
    started: date | None
    finished: date | None


class Entry(msgspec.Struct, frozen=True):
    row: int
    title: str
    authors: list[str]
    isbn13: str | None
    isbn10: str | None
    source_id: str | None
    status: str
    shelves: list[str]
    rating_quarters: int | None
    review: str            # our review markup (spoiler spans as ||…||)
    spoiler: bool
    notes: str
    reads: list[Read]
    added: date | None
    owned: bool
    pages: int | None


class Parsed(msgspec.Struct, frozen=True):
    format: str
    entries: list[Entry]
    skipped: list[tuple[int, str, str]]  # (row, title, reason)


def _text(raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise Invalid("this is a binary file, not a CSV export", code="import_not_csv",
                      field="file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text (export it again from the site)",
                      code="import_not_csv", field="file") from None


def detect(header: list[str]) -> str:
    """'goodreads' or 'storygraph' from the header; otherwise the missing columns, named."""
    names = {h.strip() for h in header}
    gaps = {fmt: [c for c in cols if c not in names] for fmt, cols in NEEDED.items()}
    for fmt, missing in gaps.items():
        if not missing:
            return fmt
    best = min(gaps, key=lambda f: len(gaps[f]) / len(NEEDED[f]))
    if len(gaps[best]) == len(NEEDED[best]):
        raise Invalid("this is not a Goodreads or StoryGraph export: the first line must be "
                      "the export's header", code="import_unknown_format", field="file",
                      extra={"missing": gaps})
    raise Invalid(f"this looks like a {best} export but lacks the columns: "
                  + ", ".join(gaps[best]), code="import_missing_columns", field="file",
                  extra={"format": best, "missing": gaps[best]})


def unquote(value: str) -> str:
    """Goodreads' `="…"` spreadsheet escape, or the value itself."""
    found = re.fullmatch(r'\s*="([^"]*)"\s*', value)
    return (found.group(1) if found else value).strip()


def parse_date(value: str) -> date | None:
    found = _DATE.search(value or "")
    if found is None:
        return None
    year, month, day = int(found.group(1)), int(found.group(2)), int(found.group(3) or 1)
    try:
        return date(year, month or 1, day or 1)
    except ValueError:
        return None


def _isbns(*values: str) -> tuple[str | None, str | None]:
    for value in values:
        raw = unquote(value).replace("-", "")
        if raw:
            try:
                return normalise_isbn(raw)
            except Invalid:
                continue
    return None, None


def review_markup(text: str) -> tuple[str, bool]:
    """Goodreads/StoryGraph review HTML as our review markup: `<br/>` line breaks (two of them
    a paragraph), `<spoiler>…</spoiler>` as `||…||` spoiler spans, `<b>`/`<strong>` bold,
    `<i>`/`<em>` italic, every other tag dropped and entities decoded. Our renderer escapes
    whatever is left, so nothing of the HTML reaches a page as markup."""
    value = re.sub(r"(?i)<br\s*/?>", "\n", text or "")
    value = re.sub(r"(?i)</?p\s*>", "\n\n", value)
    value = re.sub(r"(?is)<spoiler>(.*?)</spoiler>",
                   lambda m: "||" + m.group(1).replace("|", "/") + "||", value)
    value = re.sub(r"(?i)</?(b|strong)>", "**", value)
    value = re.sub(r"(?i)</?(i|em)>", "*", value)
    value = re.sub(r"<[^>]{0,500}>", "", value)
    value = html.unescape(value)
    value = "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").split("\n"))
    value = re.sub(r"\n{3,}", "\n\n", value).strip()
    return value, "||" in value


def _quarters(value: str, *, zero_unrated: bool) -> int | None:
    try:
        stars = float(value)
    except ValueError:
        return None
    if (stars <= 0 and zero_unrated) or not 0.5 <= stars <= 5:
        return None
    return round(stars * 4)


def _shelves(value: str) -> list[str]:
    out = []
    for name in (value or "").split(","):
        name = re.sub(r"\s*\(#\d+\)$", "", name.strip())[:40]
        if name and name.lower() not in _STATUS and name not in out:
            out.append(name)
    return out


def _goodreads(n: int, r: dict[str, str]) -> Entry:
    shelf = (r.get("Exclusive Shelf") or "").strip().lower()
    status = _STATUS.get(shelf, "want_to_read")
    shelves = _shelves(r.get("Bookshelves", ""))
    if shelf and shelf not in _STATUS and shelf[:40] not in shelves:
        shelves.append(shelf[:40])
    extra = (r.get("Additional Authors") or "").split(",")
    authors = [a.strip() for a in [r.get("Author", ""), *extra] if a.strip()]
    isbn13, isbn10 = _isbns(r.get("ISBN13", ""), r.get("ISBN", ""))
    reads: list[Read] = []
    if status == "read":
        count = max(1, int(r.get("Read Count") or 1) if (r.get("Read Count") or "1").isdigit()
                    else 1)
        reads = [Read(None, None)] * (count - 1) + [Read(None, parse_date(r["Date Read"]))]
    elif status == "did_not_finish":  # a custom exclusive shelf of Goodreads (ours on export)
        reads = [Read(None, parse_date(r.get("Date Read", "")))]
    review, spans = review_markup(r.get("My Review", ""))
    pages = r.get("Number of Pages", "").strip()
    return Entry(row=n, title=r["Title"].strip(), authors=authors, isbn13=isbn13, isbn10=isbn10,
                 source_id=(r.get("Book Id") or "").strip() or None, status=status,
                 shelves=shelves, rating_quarters=_quarters(r.get("My Rating") or "0",
                                                            zero_unrated=True),
                 review=review, spoiler=(r.get("Spoiler") or "").strip().lower()
                 in ("true", "yes", "1") and not spans,
                 notes=(r.get("Private Notes") or "").strip(), reads=reads,
                 added=parse_date(r.get("Date Added", "")),
                 owned=(r.get("Owned Copies") or "0").strip() not in ("", "0"),
                 pages=int(pages) if pages.isdigit() and 0 < int(pages) < 100_000 else None)


def _ranges(value: str) -> list[Read]:
    out = []
    for chunk in (value or "").split(","):
        dates = [parse_date(m.group(0)) for m in _DATE.finditer(chunk)]
        if len(dates) >= 2:
            out.append(Read(dates[0], dates[1]))
        elif dates:
            out.append(Read(None, dates[0]))
    return out


def _storygraph(n: int, r: dict[str, str]) -> Entry:
    status = _STATUS.get((r.get("Read Status") or "").strip().lower(), "want_to_read")
    raw_id = unquote(r.get("ISBN/UID", ""))
    isbn13, isbn10 = _isbns(raw_id)
    reads: list[Read] = []
    if status in ("read", "did_not_finish"):
        reads = _ranges(r.get("Dates Read", "")) or [
            Read(None, parse_date(r.get("Last Date Read", "")))]
        if status == "did_not_finish":
            reads = reads[-1:]
    review, _ = review_markup(r.get("Review", ""))
    return Entry(row=n, title=r["Title"].strip(),
                 authors=[a.strip() for a in (r.get("Authors") or "").split(",") if a.strip()],
                 isbn13=isbn13, isbn10=isbn10,
                 source_id=None if isbn13 else (raw_id or None), status=status,
                 shelves=_shelves(r.get("Tags", "")),
                 rating_quarters=_quarters(r.get("Star Rating") or "", zero_unrated=True),
                 review=review, spoiler=False, notes="", reads=reads,
                 added=parse_date(r.get("Date Added", "")),
                 owned=(r.get("Owned?") or "").strip().lower() == "yes", pages=None)


def parse(raw: bytes, *, max_rows: int) -> Parsed:
    """Read an export (bytes of the upload); `Invalid` for a file we cannot take at all."""
    text = _text(raw)
    try:
        rows = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(rows, None)
        if not header:
            raise Invalid("the file is empty", code="import_empty", field="file")
        fmt = detect(header)
        names = [h.strip() for h in header]
        entries: list[Entry] = []
        skipped: list[tuple[int, str, str]] = []
        for n, values in enumerate(rows, start=1):
            if n > max_rows:
                raise Invalid(f"an import holds at most {max_rows} rows",
                              code="import_too_many_rows", field="file",
                              extra={"max_rows": max_rows})
            if not any(v.strip() for v in values):
                continue
            record = dict(zip(names, values, strict=False))
            title = (record.get("Title") or "").strip()
            if not title:
                skipped.append((n, "", "no title"))
                continue
            entries.append(_goodreads(n, record) if fmt == "goodreads"
                           else _storygraph(n, record))
    except csv.Error as exc:
        raise Invalid(f"the file is not valid CSV ({exc})", code="import_not_csv",
                      field="file") from None
    return Parsed(format=fmt, entries=entries, skipped=skipped)
