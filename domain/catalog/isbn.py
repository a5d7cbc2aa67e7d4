"""ISBN-10 / ISBN-13 checksums and normalisation (store ISBN-13 always, ISBN-10 when it exists)."""

from __future__ import annotations

import re

from domain.errors import Invalid

_SEPARATORS = re.compile(r"[\s\-]+")


def _isbn10_check(first9: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    value = (11 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _isbn13_check(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def isbn10_to_13(isbn10: str) -> str:
    body = "978" + isbn10[:9]
    return body + _isbn13_check(body)


def isbn13_to_10(isbn13: str) -> str | None:
    """The ISBN-10 form of a 978-prefixed ISBN-13; 979 ISBNs have none."""
    if not isbn13.startswith("978"):
        return None
    body = isbn13[3:12]
    return body + _isbn10_check(body)


def make_isbn13(first12: str) -> str:
    """Complete 12 digits with their check digit (used by the demo catalog)."""
    return first12 + _isbn13_check(first12)


def normalise_isbn(raw: str, *, field: str = "isbn",
                   form: int | None = None) -> tuple[str, str | None]:
    """Validate `raw` (hyphens and spaces allowed) and return (isbn13, isbn10 or None).

    `form` restricts the accepted length (10 or 13); errors are `Invalid` naming `field`.
    """
    text = _SEPARATORS.sub("", raw or "").upper()
    if form in (None, 10) and len(text) == 10:
        if not re.fullmatch(r"[0-9]{9}[0-9X]", text):
            raise Invalid("an ISBN-10 is nine digits and a check digit (0-9 or X)",
                          code="invalid_isbn", field=field)
        if _isbn10_check(text[:9]) != text[9]:
            raise Invalid(f"ISBN-10 {raw!r} has a wrong check digit", code="isbn_checksum",
                          field=field)
        return isbn10_to_13(text), text
    if form in (None, 13) and len(text) == 13:
        if not text.isdigit() or not text.isascii():
            raise Invalid("an ISBN-13 is thirteen digits", code="invalid_isbn", field=field)
        if not text.startswith(("978", "979")):
            raise Invalid("an ISBN-13 starts with 978 or 979", code="invalid_isbn", field=field)
        if _isbn13_check(text[:12]) != text[12]:
            raise Invalid(f"ISBN-13 {raw!r} has a wrong check digit", code="isbn_checksum",
                          field=field)
        return text, isbn13_to_10(text)
    wanted = {None: "10 or 13", 10: "10", 13: "13"}[form]
    raise Invalid(f"an ISBN has {wanted} characters besides hyphens and spaces (got {len(text)})",
                  code="invalid_isbn", field=field)
