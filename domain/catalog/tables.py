"""piccolo tables of the catalog context (see migrations/m0004_catalog.py)."""

from __future__ import annotations

from piccolo.columns import (
    BigSerial,
    DoublePrecision,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import Column
from piccolo.table import Table


class TSVector(Column):
    """A PostgreSQL `tsvector` (piccolo has no column type for it)."""

    value_type = str


class Book(Table, tablename="books"):
    """A book. `version` grows by one on every edit (optimistic concurrency, the ETag)."""

    id = BigSerial(primary_key=True)
    title = Varchar(length=500)
    title_key = Text()  # lower-case words of the title joined by one space (exact-match boost)
    subtitle = Varchar(length=500, null=True, default=None)
    language = Varchar(length=35, default="en")
    isbn13 = Varchar(length=13, null=True, default=None, unique=True)
    isbn10 = Varchar(length=10, null=True, default=None, unique=True)
    page_count = Integer(null=True, default=None)
    publisher = Varchar(length=200, null=True, default=None)
    published = Varchar(length=10, null=True, default=None)  # YYYY, YYYY-MM or YYYY-MM-DD
    published_year = Integer(null=True, default=None)
    description = Text(default="")
    cover_url = Text(null=True, default=None)
    version = Integer(default=1)
    search = TSVector()  # weighted: title A, authors B, subjects C, description D
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Author(Table, tablename="authors"):
    """A person credited on books; names are unique case-insensitively."""

    id = BigSerial(primary_key=True)
    name = Varchar(length=200)
    created_at = Timestamptz()


class BookAuthor(Table, tablename="book_authors"):
    """Credit of an author on a book, in display order (`position` from 0)."""

    id = BigSerial(primary_key=True)
    book_id = ForeignKey(references=Book, on_delete=OnDelete.cascade, null=False)
    author_id = ForeignKey(references=Author, on_delete=OnDelete.cascade, null=False)
    position = Integer()


class Subject(Table, tablename="subjects"):
    """A subject or genre; names are unique case-insensitively."""

    id = BigSerial(primary_key=True)
    name = Varchar(length=100)


class BookSubject(Table, tablename="book_subjects"):
    """A book filed under a subject."""

    id = BigSerial(primary_key=True)
    book_id = ForeignKey(references=Book, on_delete=OnDelete.cascade, null=False)
    subject_id = ForeignKey(references=Subject, on_delete=OnDelete.cascade, null=False)


class BookChapter(Table, tablename="book_chapters"):
    """One table-of-contents entry: `start` is a normalised progression in [0, 1)."""

    id = BigSerial(primary_key=True)
    book_id = ForeignKey(references=Book, on_delete=OnDelete.cascade, null=False)
    position = Integer()
    title = Varchar(length=300)
    start = DoublePrecision()
